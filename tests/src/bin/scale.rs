//! scale: the IdP at the size of a country. On a PostgreSQL and a Redis server of its own, with
//! the release `idp` and `school-node` binaries, it seeds 1,000 registered institutions, N persons
//! with 1.5 N links at the IdP and up to 100,000 accounts at one school (COPY, so a million rows
//! take seconds), then measures one person's steps — a password sign-in through the IdP, a
//! silent-SSO hop, a nav-bar jump to a linked institution, linking two accounts, a profile change
//! reaching 5 linked schools, a back-channel sign-out reaching 10 — at each size, and shows the
//! plans of the hot queries at the largest. Writes its section of docs/PERFORMANCE.md. A
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
    /// Samples of each quick step (sign-ins, linking, profile changes and sign-outs take a tenth).
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Where to write the report; nothing is written when empty.
    #[arg(long, default_value = "docs/PERFORMANCE.md")]
    out: String,
}

/// Registered institutions in all: the real school, 10 that take messages, and the rest.
const INSTITUTIONS: usize = 1_000;
/// How often a timed wait looks: fine enough not to add to what it times.
const QUICK: Duration = Duration::from_millis(1);
const STEPS: [&str; 6] = [
    "password sign-in through the IdP",
    "silent-SSO hop (authorize → code → token)",
    "nav-bar jump to a linked institution",
    "linking two accounts (the IdP's link transaction)",
    "profile change reaching 5 linked schools",
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
    let mut results = Vec::new();
    let largest = args.persons.iter().copied().max().unwrap_or(0);
    for &n in &args.persons {
        println!("== {n} persons ==");
        let measured = measure(n, n == largest, args.samples, dir.path(), &pg, &redis).await?;
        for (name, (p50, p99, k)) in STEPS.iter().zip(&measured.steps) {
            println!("{name}: p50 {p50:.2} ms, p99 {p99:.2} ms ({k} samples)");
        }
        results.push(measured);
    }
    let report = report(&results);
    println!("{report}");
    if !args.out.is_empty() {
        federation_tests::write_section(&args.out, "scale", &report)?;
    }
    Ok(())
}

/// Seeds the IdP's persons and links and the school's accounts with COPY.
async fn seed(
    f: &Federation,
    pg: &OwnPostgres,
    name: &str,
    n: usize,
) -> anyhow::Result<(usize, usize)> {
    let mut idp = sqlx::PgConnection::connect(&pg.url(&format!("idp_{name}"))).await?;
    let now = shared::retry::now_millis();
    let extra = INSTITUTIONS - 13;
    let mut copy = idp
        .copy_in_raw("COPY persons (id, first_name, last_name, email, version, created_at, updated_at) FROM STDIN WITH (FORMAT csv)")
        .await?;
    let mut chunk = String::new();
    for i in 0..n {
        chunk.push_str(&format!(
            "p{i},Isik,Number,isik{i}@example.ee,1,{now},{now}\n"
        ));
        if chunk.len() > 1 << 20 {
            copy.send(std::mem::take(&mut chunk).into_bytes()).await?;
        }
    }
    copy.send(chunk.into_bytes()).await?;
    copy.finish().await?;
    // Every person has an account at one school, every other person at a second one.
    let mut copy = idp
        .copy_in_raw("COPY links (node_id, sub, person_id, linked_at) FROM STDIN WITH (FORMAT csv)")
        .await?;
    let mut chunk = String::new();
    let mut links = 0;
    for i in 0..n {
        chunk.push_str(&format!("k{},a{i},p{i},{now}\n", i % extra));
        links += 1;
        if i % 2 == 0 {
            chunk.push_str(&format!("k{},b{i},p{i},{now}\n", (i + 1) % extra));
            links += 1;
        }
        if chunk.len() > 1 << 20 {
            copy.send(std::mem::take(&mut chunk).into_bytes()).await?;
        }
    }
    copy.send(chunk.into_bytes()).await?;
    copy.finish().await?;
    sqlx::query("ANALYZE").execute(&mut idp).await?;

    // The school's accounts, all with one password hash (hashing 100,000 would only take long).
    let accounts = (n / 10).clamp(1_000, 100_000);
    let hash = school_node::service::passwords::hash(
        &school_node::service::passwords::Secret::new("pikk-parool-123"),
    )
    .await?;
    let mut node = sqlx::PgConnection::connect(&pg.url(&format!("jpk_{name}"))).await?;
    let mut copy = node
        .copy_in_raw("COPY accounts (id, first_name, last_name, name_key, email, password_hash, created_at, updated_at) FROM STDIN WITH (FORMAT csv)")
        .await?;
    let mut chunk = String::new();
    let secs = now / 1_000;
    for i in 0..accounts {
        chunk.push_str(&format!("acct{i},Opilane,Number{i},opilane number{i},opilane{i}@example.ee,\"{hash}\",{secs},{secs}\n"));
        if chunk.len() > 1 << 20 {
            copy.send(std::mem::take(&mut chunk).into_bytes()).await?;
        }
    }
    copy.send(chunk.into_bytes()).await?;
    copy.finish().await?;
    sqlx::query("ANALYZE").execute(&mut node).await?;
    let _ = f;
    Ok((links, accounts))
}

/// Links the first measured person's account at the school with accounts at the 5 schools that
/// take messages (rp0..rp4); the second signs in at the 10 applications (rp5..rp14) instead.
async fn link_measured(f: &Federation, people: &[String], ids: &[String]) -> anyhow::Result<()> {
    let timing = Timing {
        at_millis: shared::retry::now_millis(),
        deadline_millis: shared::retry::now_millis() + 3_600_000,
    };
    for (who, (id, n)) in ids.iter().zip([5, 0]).enumerate() {
        // The shared profile is the person's own, so the school keeps the names it has.
        let (first, last) = people[who].split_once(' ').unwrap_or_default();
        let profile = SharedProfile {
            first_name: first.into(),
            last_name: last.into(),
            ..Default::default()
        };
        let me = Link {
            node_id: "jpk".into(),
            sub: id.as_str().into(),
        };
        for j in 0..n {
            let there = Link {
                node_id: format!("rp{j}").as_str().into(),
                sub: format!("m{who}-{j}").as_str().into(),
            };
            persons::link(&f.idp_db, &me, &there, &profile, timing).await?;
        }
    }
    Ok(())
}

async fn measure(
    n: usize,
    explain: bool,
    samples: usize,
    root: &std::path::Path,
    pg: &OwnPostgres,
    redis: &OwnRedis,
) -> anyhow::Result<Measured> {
    let name = format!("scale{n}");
    let options = Options {
        receivers: 15,
        node_receivers: 5,
        extra_nodes: INSTITUTIONS - 13,
        schools: 1,
        ..Options::default()
    };
    let mut f = Federation::start(&name, root, pg, redis, options).await?;
    let people = f.people(2).await?;
    let ids: Vec<String> = people.iter().map(|p| f.persons[p].clone()).collect();
    let started = Instant::now();
    let (links, accounts) = seed(&f, pg, &name, n).await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    println!("seeded {n} persons, {links} links, {accounts} accounts in {seed_seconds:.1} s");
    link_measured(&f, &people, &ids).await?;
    // The first person also has an account at a second real school, linked: the nav bar's jump.
    f.link_at_every_school(&people[0]).await?;
    let idp = f.idp.url();
    let few = (samples / 10).max(5);
    let mut steps = Vec::new();

    // 1. Password sign-ins (the school checks the password: Argon2 is most of it).
    let mut times = Vec::new();
    let mut browser = Federation::browser();
    for _ in 0..few {
        browser = Federation::browser();
        let t = Instant::now();
        f.sign_in(&browser, "app", &people[0]).await?;
        times.push(ms(t));
    }
    steps.push(summary(times));

    // 2. Silent-SSO hops of that session.
    let mut times = Vec::new();
    for _ in 0..samples {
        let t = Instant::now();
        let r = browser.get(f.authorize_url("app", true)).send().await?;
        let code = code_in(&location(&r)?)?;
        f.redeem("app", &code).await?;
        times.push(ms(t));
    }
    steps.push(summary(times));

    // 3. Jumps to the linked school from the nav bar (no password: the link opens it).
    let mut times = Vec::new();
    for _ in 0..samples {
        let t = Instant::now();
        let r = browser.get(f.authorize_url("kool0", true)).send().await?;
        code_in(&location(&r)?)?;
        times.push(ms(t));
    }
    steps.push(summary(times));

    // 4. Linking two accounts: the IdP's transaction, among the million.
    let mut times = Vec::new();
    let profile = SharedProfile {
        first_name: "Uus".into(),
        last_name: "Isik".into(),
        ..Default::default()
    };
    for i in 0..few {
        let timing = Timing {
            at_millis: shared::retry::now_millis(),
            deadline_millis: shared::retry::now_millis() + 3_600_000,
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
        times.push(ms(t));
    }
    steps.push(summary(times));

    // 5. A profile change at the school reaching the 5 schools linked to it.
    let node = Federation::browser();
    anyhow::ensure!(
        f.sign_in_at(&node, &f.node.url(), &people[0]).await?,
        "signed in at the school"
    );
    let mut times = Vec::new();
    for i in 0..few {
        let page = node
            .get(format!("{}/profile", f.node.url()))
            .send()
            .await?
            .text()
            .await?;
        let phone = format!("+3725{:07}", 1_000_000 + i);
        let t = Instant::now();
        let form = [
            ("csrf", testkit::hidden(&page, "csrf")),
            ("shown", "true".into()),
            ("shown_email", testkit::hidden(&page, "shown_email")),
            ("shown_phone", testkit::hidden(&page, "shown_phone")),
            ("shown_address", testkit::hidden(&page, "shown_address")),
            ("email", testkit::hidden(&page, "shown_email")),
            ("phone", phone.clone()),
            ("address", testkit::hidden(&page, "shown_address")),
        ];
        node.post(format!("{}/profile", f.node.url()))
            .form(&form)
            .send()
            .await?;
        let updates = f.updates.clone();
        wait_every("5 schools updated", Duration::from_secs(30), QUICK, || {
            let (updates, phone) = (updates.clone(), phone.clone());
            async move {
                let got = updates.lock().unwrap();
                (0..5).all(|j| got.iter().any(|(k, p)| *k == j && *p == phone))
            }
        })
        .await?;
        times.push(ms(t));
    }
    steps.push(summary(times));

    // 6. Signed in at 10 schools (jumps), then signed out: until all 10 have their token.
    let mut times = Vec::new();
    for _ in 0..few {
        let b = Federation::browser();
        let code = f.sign_in(&b, "app", &people[1]).await?;
        for j in 5..15 {
            let r = b
                .get(f.authorize_url(&format!("rp{j}"), true))
                .send()
                .await?;
            code_in(&location(&r)?)?;
        }
        let tokens = f.redeem("app", &code).await?;
        let id_token = tokens["id_token"].as_str().unwrap_or_default().to_owned();
        let (_, claims) = f.keys.verify(&id_token).await?;
        let sid = claims
            .get("sid")
            .and_then(|s| s.as_str())
            .unwrap_or_default()
            .to_owned();
        let t = Instant::now();
        Federation::sign_out(&idp, &b, &id_token).await?;
        let received = f.received.clone();
        wait_every("10 schools told", Duration::from_secs(30), QUICK, || {
            let (received, sid) = (received.clone(), sid.clone());
            async move {
                let got = received.lock().unwrap();
                (5..15).all(|j| got.iter().any(|(k, s)| *k == j && *s == sid))
            }
        })
        .await?;
        times.push(ms(t));
    }
    steps.push(summary(times));

    let plans = if explain {
        plans(pg, &name).await?
    } else {
        Vec::new()
    };
    f.idp.signal("TERM").await?;
    f.node.service.signal("TERM").await?;
    Ok(Measured {
        persons: n,
        links,
        accounts,
        seed_seconds,
        steps,
        plans,
    })
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
            "deliveries due",
            "SELECT id FROM outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= 1 AND claimed_until < 1 ORDER BY next_attempt_at LIMIT 500",
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
        "## National scale\n\nMeasured by `scale` (tests/src/bin/scale.rs), a benchmark harness, not a test.\n\n```sh\ncargo build --release -p idp -p school-node -p federation-tests\ntarget/release/scale            # --persons 1000,1000000 --samples 1000\n```\n\n",
    );
    out.push_str("Machine: 2 cores. The release `idp` and `school-node` binaries run as processes of their own on a PostgreSQL and a Redis server of the harness's own (PostgreSQL with `fsync=off`); the harness, which drives one person at a time and plays the 10 schools that take messages, shares the machine. 1,000 institutions are registered.\n\n");
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
