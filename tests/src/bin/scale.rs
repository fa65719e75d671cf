//! scale: the IdP at the size of a country. On a PostgreSQL and a Redis server of its own, with
//! the release `idp` and `school-node` binaries, it seeds 1,000 registered institutions, N persons
//! with 1.5 N links at the IdP and up to 100,000 accounts at one school (COPY, so a million rows
//! take seconds), then measures one person's steps — a password sign-in through the IdP, a
//! silent-SSO hop, a nav-bar jump to a linked institution, linking two accounts, a profile change
//! reaching the 9 schools linked to the person's, a back-channel sign-out reaching all 10 — at
//! each size, and shows the plans of the hot queries at the largest. The 10 schools are
//! `school-node` processes, each with its own database. Writes its section of docs/PERFORMANCE.md. A
//! benchmark, not a test: it asserts nothing.
//!
//! cargo build --release -p idp -p school-node -p federation-tests && target/release/scale

use std::time::{Duration, Instant};

use clap::Parser;
use federation_tests::fault_federation::{Federation, Options, code_in, location};
use federation_tests::percentile;
use federation_tests::processes::{OwnPostgres, OwnRedis, wait_every};
use idp::store::persons::{self, Link, Timing};
use shared::profile::SharedProfile;
use sqlx::Connection;

#[derive(Parser)]
#[command(
    about = "Measures the IdP's hot paths with 1,000 institutions and up to a million persons"
)]
struct Args {
    /// Numbers of persons at the IdP to measure at.
    #[arg(long, value_delimiter = ',', default_value = "1000,1000000")]
    persons: Vec<usize>,
    /// Samples of each quick step: hops, jumps and links (sign-ins and profile changes take a
    /// tenth, sign-outs, which sign in at ten schools first, a 25th).
    #[arg(long, default_value_t = 10_000)]
    samples: usize,
    /// The steps to measure (signin, hop, jump, link, profile, logout); all when not given.
    #[arg(long, value_delimiter = ',', value_parser = step_index)]
    steps: Vec<usize>,
    /// Where to write the report; nothing is written when empty.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    out: String,
}

/// Registered institutions in all: the 10 real schools, an application, and the rest.
const INSTITUTIONS: usize = 1_000;
/// The real schools besides `jpk`, where the measured person has linked accounts.
const SCHOOLS: usize = 9;
/// Registered institutions that nobody calls (`k0`, …): the registry at its size.
const SILENT: usize = INSTITUTIONS - SCHOOLS - 2;
/// How often a timed wait looks: fine enough not to add to what it times.
const QUICK: Duration = Duration::from_millis(1);
/// The steps' short names, as `--steps` takes them, in the order of STEPS.
const STEP_NAMES: [&str; 6] = ["signin", "hop", "jump", "link", "profile", "logout"];

fn step_index(name: &str) -> Result<usize, String> {
    STEP_NAMES
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| format!("no step {name}; the steps are {}", STEP_NAMES.join(", ")))
}

const STEPS: [&str; 6] = [
    "password sign-in through the IdP",
    "silent-SSO hop (authorize → code → token)",
    "nav-bar jump to a linked institution",
    "linking two accounts (the IdP's link transaction)",
    "profile change reaching 9 linked schools",
    "back-channel sign-out reaching 10 schools",
];

struct Measured {
    persons: usize,
    links: usize,
    accounts: usize,
    seed_seconds: f64,
    /// (p50, p99) in milliseconds per step, and the number of samples.
    steps: Vec<(f64, f64, usize)>,
    plans: Vec<(String, String)>,
}

fn summary(mut samples: Vec<f64>) -> (f64, f64, usize) {
    samples.sort_by(f64::total_cmp);
    (
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.len(),
    )
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1_000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt().with_env_filter("warn").try_init();
    let dir = tempfile::tempdir()?;
    let pg = OwnPostgres::start(dir.path()).await?;
    let redis = OwnRedis::start().await?;
    let mut sizes = Vec::new();
    for &n in &args.persons {
        println!("== {n} persons ==");
        sizes.push(prepare(n, dir.path(), &pg, &redis).await?);
    }
    let measured = measure(&sizes, args.samples, &args.steps).await?;
    let largest = sizes.iter().max_by_key(|s| s.persons);
    let largest_persons = largest.map(|s| s.persons);
    let plans = match largest {
        Some(size) => plans(&pg, &size.name).await?,
        None => Vec::new(),
    };
    let mut results = Vec::new();
    for (mut size, steps) in sizes.into_iter().zip(measured) {
        println!("== {} persons ==", size.persons);
        for (name, (p50, p99, k)) in STEPS.iter().zip(&steps).filter(|(_, s)| s.2 > 0) {
            println!("{name}: p50 {p50:.2} ms, p99 {p99:.2} ms ({k} samples)");
        }
        size.f.idp.signal("TERM").await?;
        for school in std::iter::once(&mut size.f.node).chain(&mut size.f.schools) {
            school.service.signal("TERM").await?;
        }
        let is_largest = Some(size.persons) == largest_persons;
        results.push(Measured {
            persons: size.persons,
            links: size.links,
            accounts: size.accounts,
            seed_seconds: size.seed_seconds,
            steps,
            plans: if is_largest {
                plans.clone()
            } else {
                Vec::new()
            },
        });
    }
    let report = report(&results);
    println!("{report}");
    if !args.out.is_empty() {
        federation_tests::write_section(&args.out, "scale", &report)?;
    }
    Ok(())
}

/// Seeds the IdP's persons and links and the school's accounts with COPY.
async fn seed(pg: &OwnPostgres, name: &str, n: usize) -> anyhow::Result<(usize, usize)> {
    let idp_url = pg.url(&format!("idp_{name}"));
    let mut idp = sqlx::PgConnection::connect(&idp_url).await?;
    let now = shared::retry::now_millis();
    copy_in(
        &mut idp,
        "COPY persons (id, first_name, last_name, email, version, created_at, updated_at) FROM STDIN WITH (FORMAT csv)",
        (0..n).map(|i| format!("p{i},Isik,Number,isik{i}@example.ee,1,{now},{now}\n")),
    )
    .await?;
    // Every person has an account at one school, every other person at a second one.
    let links = n + n.div_ceil(2);
    copy_in(
        &mut idp,
        "COPY links (node_id, sub, person_id, linked_at) FROM STDIN WITH (FORMAT csv)",
        (0..n).map(|i| {
            let mut rows = format!("k{},a{i},p{i},{now}\n", i % SILENT);
            if i % 2 == 0 {
                rows.push_str(&format!("k{},b{i},p{i},{now}\n", (i + 1) % SILENT));
            }
            rows
        }),
    )
    .await?;
    idp.close().await?;
    settle(&idp_url, &[("persons", n), ("links", links)]).await?;

    // The school's accounts, all with one password hash (hashing 100,000 would only take long).
    let accounts = (n / 10).clamp(1_000, 100_000);
    let hash = school_node::service::passwords::hash(
        &school_node::service::passwords::Secret::new("pikk-parool-123"),
    )
    .await?;
    let jpk_url = pg.url(&format!("jpk_{name}"));
    let mut node = sqlx::PgConnection::connect(&jpk_url).await?;
    let secs = now / 1_000;
    copy_in(
        &mut node,
        "COPY accounts (id, first_name, last_name, name_key, email, password_hash, created_at, updated_at) FROM STDIN WITH (FORMAT csv)",
        (0..accounts).map(|i| format!("acct{i},Opilane,Number{i},opilane number{i},opilane{i}@example.ee,\"{hash}\",{secs},{secs}\n")),
    )
    .await?;
    node.close().await?;
    settle(&jpk_url, &[("accounts", accounts)]).await?;
    Ok((links, accounts))
}

/// Sends `rows` (CSV lines) through one COPY, a megabyte at a time.
async fn copy_in(
    conn: &mut sqlx::PgConnection,
    statement: &str,
    rows: impl Iterator<Item = String>,
) -> anyhow::Result<()> {
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut chunk = String::new();
    for row in rows {
        chunk.push_str(&row);
        if chunk.len() > 1 << 20 {
            copy.send(std::mem::take(&mut chunk).into_bytes()).await?;
        }
    }
    copy.send(chunk.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// Leaves the seeded tables as a database of that size is in service: vacuumed and analyzed,
/// with nothing for autovacuum to take up. The server learns of the COPYs' rows only after
/// their connection has sent its statistics; a VACUUM before that leaves the rows counted as
/// new, and autovacuum then scans the million rows in the middle of the measurements, at the
/// large size only.
async fn settle(url: &str, tables: &[(&str, usize)]) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    for &(table, rows) in tables {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let (inserted, _) = inserted(&mut conn, table).await?
            && (inserted as usize) < rows
        {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the statistics of {table} never showed its {rows} rows ({inserted})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    for &(table, _) in tables {
        let (_, since_vacuum) = inserted(&mut conn, table).await?;
        anyhow::ensure!(
            since_vacuum == 0,
            "{table} still has {since_vacuum} rows counted as new after VACUUM"
        );
    }
    Ok(())
}

/// Rows the server has counted as inserted into `table`: in all, and since its last vacuum.
async fn inserted(conn: &mut sqlx::PgConnection, table: &str) -> anyhow::Result<(i64, i64)> {
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *conn)
        .await?;
    Ok(sqlx::query_as(
        "SELECT CAST(n_tup_ins AS BIGINT), CAST(n_ins_since_vacuum AS BIGINT) \
         FROM pg_stat_user_tables WHERE relname = $1",
    )
    .bind(table)
    .fetch_one(&mut *conn)
    .await?)
}

/// One size's federation, seeded, and the person's browsers its steps use.
struct Size {
    persons: usize,
    name: String,
    f: Federation,
    person: String,
    links: usize,
    accounts: usize,
    seed_seconds: f64,
    /// Holds an IdP session (silent-SSO hops and jumps).
    at_idp: reqwest::Client,
    /// Signed in at `jpk` (profile changes).
    at_school: reqwest::Client,
}

async fn prepare(
    n: usize,
    root: &std::path::Path,
    pg: &OwnPostgres,
    redis: &OwnRedis,
) -> anyhow::Result<Size> {
    let name = format!("scale{n}");
    let options = Options {
        extra_nodes: SILENT,
        schools: SCHOOLS,
        // Every new message wakes its worker; looking ten times a second in 22 processes as
        // well would only add to the noise in the tails.
        poll_millis: 1_000,
        ..Options::default()
    };
    let mut f = Federation::start(&name, root, pg, redis, options).await?;
    let person = f.people(1).await?.remove(0);
    let started = Instant::now();
    let (links, accounts) = seed(pg, &name, n).await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    println!("seeded {n} persons, {links} links, {accounts} accounts in {seed_seconds:.1} s");
    // The person has accounts at the other 9 schools too, linked with the one at `jpk`.
    f.link_at_every_school(&person).await?;
    let at_idp = Federation::browser();
    f.sign_in(&at_idp, "app", &person).await?;
    let at_school = Federation::browser();
    anyhow::ensure!(
        f.sign_in_at(&at_school, &f.node.url(), &person).await?,
        "signed in at the school"
    );
    Ok(Size {
        persons: n,
        name,
        f,
        person,
        links,
        accounts,
        seed_seconds,
        at_idp,
        at_school,
    })
}

/// One sample of step `step` (an index into STEPS) at this size; `i` numbers the samples.
/// Returns milliseconds.
async fn sample(size: &Size, step: usize, i: usize) -> anyhow::Result<f64> {
    let f = &size.f;
    let idp = f.idp.url();
    let t = Instant::now();
    match step {
        // The school checks the password: Argon2 is most of it.
        0 => {
            f.sign_in(&Federation::browser(), "app", &size.person)
                .await?;
        }
        1 => {
            let r = size.at_idp.get(f.authorize_url("app", true)).send().await?;
            let code = code_in(&location(&r)?)?;
            f.redeem("app", &code).await?;
        }
        // A jump from the nav bar: no password, the link opens the school.
        2 => {
            let r = size
                .at_idp
                .get(f.authorize_url("kool0", true))
                .send()
                .await?;
            code_in(&location(&r)?)?;
        }
        // The IdP's link transaction, among the million.
        3 => {
            let now = shared::retry::now_millis();
            let timing = Timing {
                at_millis: now,
                deadline_millis: now + 3_600_000,
            };
            let profile = SharedProfile {
                first_name: "Uus".into(),
                last_name: "Isik".into(),
                ..Default::default()
            };
            let a = Link {
                node_id: format!("k{}", i % 900).as_str().into(),
                sub: format!("x{i}").as_str().into(),
            };
            let b = Link {
                node_id: format!("k{}", (i + 1) % 900).as_str().into(),
                sub: format!("y{i}").as_str().into(),
            };
            let t = Instant::now();
            persons::link(&f.idp_db, &a, &b, &profile, timing).await?;
            let took = ms(t);
            forget_undeliverable(f, now).await?;
            return Ok(took);
        }
        // A profile change at the school, until the 9 schools linked to it have applied it.
        4 => {
            let school = &size.at_school;
            let page = school
                .get(format!("{}/profile", f.node.url()))
                .send()
                .await?
                .text()
                .await?;
            let form = [
                ("csrf", testkit::hidden(&page, "csrf")),
                ("shown", "true".into()),
                ("shown_email", testkit::hidden(&page, "shown_email")),
                ("shown_phone", testkit::hidden(&page, "shown_phone")),
                ("shown_address", testkit::hidden(&page, "shown_address")),
                ("email", testkit::hidden(&page, "shown_email")),
                ("phone", format!("+3725{:07}", 1_000_000 + i)),
                ("address", testkit::hidden(&page, "shown_address")),
            ];
            let (t, t0) = (Instant::now(), shared::retry::now_millis());
            school
                .post(format!("{}/profile", f.node.url()))
                .form(&form)
                .send()
                .await?;
            delivered_since(f, "profile", t0, SCHOOLS).await?;
            let took = ms(t);
            // The sender's own copy too, untimed: the next sample then starts with the IdP's
            // delivery round over (one still running holds the next sample's messages back).
            delivered_since(f, "profile", t0, SCHOOLS + 1).await?;
            return Ok(took);
        }
        // Signed in at the 10 schools (the password at one, single sign-on at the others),
        // then signed out at the IdP: until every school has ended its session and answered.
        _ => {
            let b = Federation::browser();
            f.sign_in_at_every_school(&b, &size.person).await?;
            let page = b.get(format!("{idp}/logout")).send().await?.text().await?;
            let (t, t0) = (Instant::now(), shared::retry::now_millis());
            testkit::confirm_idp_logout(&b, &idp, &page).await;
            delivered_since(f, "logout", t0, SCHOOLS + 1).await?;
            return Ok(ms(t));
        }
    }
    Ok(ms(t))
}

/// Every step's samples at every size, taken in turns (one at each size, the order flipped
/// every other time), so that what the machine does meanwhile falls on all sizes alike.
/// Linking goes last: it adds a person per sample, and the other steps measure the sizes as seeded.
async fn measure(
    sizes: &[Size],
    samples: usize,
    only: &[usize],
) -> anyhow::Result<Vec<Vec<(f64, f64, usize)>>> {
    // The quick steps (a hop, a jump, a link: about a millisecond) take every sample, as a p99
    // of a few hundred is a handful of the worst and moves with every stray wake-up on the
    // machine. The slow ones take fewer: a sign-out sample signs in at ten schools first.
    let tenth = (samples / 10).max(5);
    let counts = [
        tenth,
        samples,
        samples,
        samples,
        tenth,
        (samples / 25).max(5),
    ];
    let mut times = vec![vec![Vec::new(); STEPS.len()]; sizes.len()];
    for step in [0, 1, 2, 4, 5, 3] {
        if !only.is_empty() && !only.contains(&step) {
            continue;
        }
        let started = Instant::now();
        for i in 0..counts[step] {
            for k in 0..sizes.len() {
                let k = if i % 2 == 0 { k } else { sizes.len() - 1 - k };
                times[k][step].push(sample(&sizes[k], step, i).await?);
            }
        }
        println!(
            "{}: {} samples at each size in {:.0} s",
            STEPS[step],
            counts[step],
            started.elapsed().as_secs_f64()
        );
    }
    Ok(times
        .into_iter()
        .map(|steps| steps.into_iter().map(summary).collect())
        .collect())
}

/// Removes the messages a link queued for the registry-only institutions (`k0`, …), whose
/// address takes nothing: left, every link's four would be retried through the rest of the
/// step, thousands a second, and the tails measured would be that backlog's, not a link's.
async fn forget_undeliverable(f: &Federation, since: i64) -> anyhow::Result<()> {
    shared::with_pool!(&f.idp_db, pool => sqlx::query(
        "DELETE FROM outbox WHERE created_at >= $1 AND client_id LIKE 'k%' \
         AND client_id NOT LIKE 'kool%'",
    )
    .bind(since)
    .execute(pool)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// An outbox row as a failed wait reports it: client, attempts, delivered, given up, last error.
type OutboxRow = (String, i32, Option<i64>, Option<i64>, Option<String>);

/// Waits until the IdP has delivered `n` messages of `kind` queued since `since` (ms) to the
/// real schools: each school answered 200 once it had applied the message.
async fn delivered_since(f: &Federation, kind: &str, since: i64, n: usize) -> anyhow::Result<()> {
    let db = f.idp_db.clone();
    let waited = wait_every(
        &format!("{n} {kind} messages delivered"),
        Duration::from_secs(30),
        QUICK,
        || {
            let db = db.clone();
            async move {
                let got: Result<i64, _> = shared::with_pool!(&db, pool => sqlx::query_scalar(
                    // Found through the index on delivered_at, planned for this `since` every
                    // time (not persistent): the harness looks every millisecond, and a cached
                    // generic plan that scanned the whole outbox as often (chosen at one size
                    // and not the other) loaded the very database it measures.
                    "SELECT COUNT(*) FROM outbox WHERE delivered_at >= $2 AND created_at >= $2 \
                     AND kind = $1 AND (client_id = 'jpk' OR client_id LIKE 'kool%')",
                )
                .bind(kind)
                .bind(since)
                .persistent(false)
                .fetch_one(pool)
                .await);
                got.is_ok_and(|got| got as usize >= n)
            }
        },
    )
    .await;
    if let Err(e) = waited {
        // Say what the outbox holds, so that a run that stops here tells why.
        let rows: Vec<OutboxRow> = shared::with_pool!(&f.idp_db, pool => sqlx::query_as(
                "SELECT client_id, attempts, delivered_at, gave_up_at, last_error FROM outbox \
                 WHERE kind = $1 AND created_at >= $2",
            )
            .bind(kind)
            .bind(since)
            .fetch_all(pool)
            .await)?;
        anyhow::bail!("{e}; the outbox since then: {rows:?}");
    }
    Ok(())
}

/// The plans of the queries every step above runs, at the largest size.
async fn plans(pg: &OwnPostgres, name: &str) -> anyhow::Result<Vec<(String, String)>> {
    let queries = [
        (
            "idp",
            "person of an account",
            "SELECT person_id FROM links WHERE node_id = 'k5' AND sub = 'a5'",
        ),
        (
            "idp",
            "a person's links",
            "SELECT node_id, sub FROM links WHERE person_id = 'p5' ORDER BY linked_at",
        ),
        (
            "idp",
            "a person",
            "SELECT id, first_name, last_name, personal_code, email, phone, address, version FROM persons WHERE id = 'p5'",
        ),
        (
            "idp",
            "a refresh token's rotation",
            "UPDATE refresh_tokens SET used_at = 1 WHERE token_hash = 'x' AND used_at IS NULL AND expires_at > 1",
        ),
        (
            "idp",
            "claiming the deliveries due (one statement a round)",
            "UPDATE outbox SET claimed_until = 2 WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= 1 AND claimed_until < 1 ORDER BY next_attempt_at LIMIT 500) AND delivered_at IS NULL AND gave_up_at IS NULL AND claimed_until < 1 RETURNING id",
        ),
        (
            "jpk",
            "an account by e-mail or name (sign-in)",
            "SELECT id FROM accounts WHERE email = 'opilane5@example.ee' OR name_key = 'opilane number5' ORDER BY created_at, id LIMIT 20",
        ),
    ];
    let mut out = Vec::new();
    for (db, what, sql) in queries {
        let mut conn = sqlx::PgConnection::connect(&pg.url(&format!("{db}_{name}"))).await?;
        // Tables the harness leaves small (tokens, outbox) would be scanned whole; the plan
        // wanted is the one a full table gets.
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut conn)
            .await?;
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
            .fetch_all(&mut conn)
            .await?;
        let plan = rows
            .into_iter()
            .map(|(line,)| line)
            .collect::<Vec<_>>()
            .join("\n");
        out.push((format!("{what} ({db})"), plan));
    }
    Ok(out)
}

fn report(results: &[Measured]) -> String {
    let mut out = String::from(
        "## National scale\n\nMeasured by `scale` (tests/src/bin/scale.rs), a benchmark harness, not a test.\n\n```sh\ncargo build --release -p idp -p school-node -p federation-tests\ntarget/release/scale            # --persons 1000,1000000 --samples 10000\n```\n\n",
    );
    out.push_str("Machine: 2 cores. The release `idp` and `school-node` binaries run as processes of their own on a PostgreSQL and a Redis server of the harness's own (PostgreSQL with `fsync=off`); 10 of the schools are real (`jpk` and `kool0`…`kool8`, each a `school-node` process with its own database), and the measured person has linked accounts at all ten; the harness, which drives one person at a time, shares the machine. 1,000 institutions are registered. A profile change or a sign-out has reached a school when the school has applied it and answered the IdP's delivery (the IdP's outbox marks it delivered). Both sizes run side by side and every step's samples are taken in turns, one at each size (the order flipped every other time), so that what else the machine does falls on both alike. A link joins accounts at two of the registry-only institutions, whose address takes nothing; the harness removes the four messages each link queues for them once it is timed, as retrying thousands of them would be most of what the IdP did during the step (with them left, the link's p99 was 13 ms at both sizes). A profile change is timed until the 9 schools have it; the sample then also waits for the sender's own copy, so that the next one starts with the IdP's delivery round over.\n\nHow far the harness can resolve a difference: the same command with `--persons 1000,1001 --steps profile --out \"\"` measures two federations of the same size. In session 6, with the IdP's delivery worker claiming each due message with a statement of its own, the second one's profile change took −2 % to +38 % longer at p50 over ten such runs (from queuing to the first delivery it took the longer time, and every message of a fan-out waited for all the claims before it). Since the worker claims a round's messages with one statement (session 7), two runs gave −2 % / +0 % and −1 % / −3 % (p50 / p99).\n\n");
    out.push_str(
        "| size | persons | links | accounts at the school | seeded in |\n|---|---|---|---|---|\n",
    );
    for r in results {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} s |\n",
            label(r.persons),
            r.persons,
            r.links,
            r.accounts,
            r.seed_seconds
        ));
    }
    out.push_str("\n| step |");
    for r in results {
        out.push_str(&format!(
            " p50 ms at {0} | p99 ms at {0} |",
            label(r.persons)
        ));
    }
    out.push_str(" p50 change | p99 change |\n|---|");
    for _ in results {
        out.push_str("---|---|");
    }
    out.push_str("---|---|\n");
    for (i, step) in STEPS.iter().enumerate() {
        if results.iter().all(|r| r.steps[i].2 == 0) {
            continue; // not measured (--steps)
        }
        out.push_str(&format!("| {step} |"));
        for r in results {
            let (p50, p99, _) = r.steps[i];
            out.push_str(&format!(" {p50:.2} | {p99:.2} |"));
        }
        let change = |pick: fn(&(f64, f64, usize)) -> f64| match (results.first(), results.last()) {
            (Some(a), Some(b)) if results.len() > 1 => {
                format!(
                    "{:+.0} %",
                    (pick(&b.steps[i]) / pick(&a.steps[i]) - 1.0) * 100.0
                )
            }
            _ => "—".into(),
        };
        out.push_str(&format!(" {} | {} |\n", change(|s| s.0), change(|s| s.1)));
    }
    if let Some(r) = results.iter().find(|r| !r.plans.is_empty()) {
        out.push_str(&format!("\nPlans of the hot queries at {} persons (`EXPLAIN`, sequential scans off so that the small tables the harness leaves — tokens, outbox — are planned as full ones would be): each finds its rows by an index.\n", r.persons));
        for (what, plan) in &r.plans {
            out.push_str(&format!("\n{what}:\n\n```\n{plan}\n```\n"));
        }
    }
    out
}

fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{} M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{} k", n / 1_000),
        n => n.to_string(),
    }
}
