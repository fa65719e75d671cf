//! faults: the fault-injection suite. Real `idp` and `school-node` processes on a PostgreSQL and
//! a Redis server of the suite's own go through a bad day — the IdP killed (SIGKILL) or stopped
//! (SIGTERM) in the middle of a back-channel fan-out to 10 school nodes, Redis restarted while
//! people are signed in, PostgreSQL stopped for 10 s under traffic, the SMTP server down for the
//! whole retry window, a school node down past the logout deadline — and for each the suite
//! counts messages sent, delivered, lost and delivered twice, and 5xx answers. It prints the table,
//! writes it to docs/RELIABILITY.md, and exits non-zero when a fault lost a message, duplicated
//! one where it must not, or answered 500.
//!
//! Needs PostgreSQL's server programs and redis-server (.ci/run installs them), and the service
//! binaries built next to this one: `cargo build -p idp -p school-node -p federation-tests`.

use std::time::{Duration, Instant};

use clap::Parser;
use federation_tests::fault_federation::{Federation, Options, School};
use federation_tests::processes::{OwnPostgres, OwnRedis, wait_for};

#[derive(Parser)]
#[command(about = "Runs the fault-injection suite against real processes")]
struct Args {
    /// Where to write the table; nothing is written when empty.
    #[arg(long, default_value = "docs/RELIABILITY.md")]
    out: String,
    /// Run only the faults whose name contains this.
    #[arg(long)]
    only: Option<String>,
}

/// One fault and what it did.
#[derive(Default)]
struct Row {
    fault: String,
    sent: usize,
    delivered: usize,
    twice: usize,
    /// 503 answers while the fault lasted (a clear "try again in a moment").
    unavailable: usize,
    /// Other 5xx answers at any time, and any 5xx once the fault was over.
    server_errors: usize,
    recovered: Option<Duration>,
    /// Whether a message delivered twice breaks the promise (a graceful stop must not).
    exactly_once: bool,
    note: String,
}

impl Row {
    fn lost(&self) -> usize {
        self.sent.saturating_sub(self.delivered)
    }

    fn ok(&self) -> bool {
        self.lost() == 0 && self.server_errors == 0 && (!self.exactly_once || self.twice == 0)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt().with_env_filter("warn").try_init();
    let dir = tempfile::tempdir()?;
    if std::env::var_os("FAULTS_KEEP").is_some() {
        println!("logs and data stay in {}", dir.path().display());
    }
    let mut pg = OwnPostgres::start(dir.path()).await?;
    let mut redis = OwnRedis::start().await?;
    let wanted = |name: &str| args.only.as_ref().is_none_or(|o| name.contains(o.as_str()));
    let mut rows = Vec::new();
    if wanted("sigkill") {
        rows.push(fan_out_interrupted("sigkill", "KILL", dir.path(), &pg, &redis).await?);
    }
    if wanted("sigterm") {
        rows.push(fan_out_interrupted("sigterm", "TERM", dir.path(), &pg, &redis).await?);
    }
    if wanted("redis") {
        rows.push(redis_restarted(dir.path(), &pg, &mut redis).await?);
    }
    if wanted("postgres") {
        rows.push(postgres_stopped(dir.path(), &mut pg, &redis).await?);
    }
    if wanted("smtp") {
        rows.push(smtp_down(dir.path(), &pg, &redis).await?);
    }
    if wanted("deadline") {
        rows.push(node_down_past_deadline(dir.path(), &pg, &redis).await?);
    }
    let table = table(&rows);
    println!("{table}");
    if !args.out.is_empty() {
        federation_tests::write_section(&args.out, "faults", &table)?;
    }
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| !r.ok())
        .map(|r| r.fault.as_str())
        .collect();
    if std::env::var_os("FAULTS_KEEP").is_some() {
        let _ = dir.keep();
    }
    anyhow::ensure!(failed.is_empty(), "faults not survived: {failed:?}");
    Ok(())
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| fault | sent | delivered | lost | delivered twice | 503 while down | other 5xx | back to normal in | result |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.fault,
            r.sent,
            r.delivered,
            r.lost(),
            r.twice,
            r.unavailable,
            r.server_errors,
            r.recovered
                .map_or("—".into(), |d| format!("{:.1} s", d.as_secs_f64())),
            if r.ok() { "survived" } else { "FAILED" }
        ));
    }
    out.push('\n');
    for r in rows {
        out.push_str(&format!("- **{}**: {}\n", r.fault, r.note));
    }
    out
}

/// Back-channel logouts the schools took, as their metrics count them: (tokens that ended a
/// session, tokens that found nothing left to end — the same logout sent again).
async fn logouts_taken(schools: &[&School]) -> anyhow::Result<(u64, u64)> {
    let mut total = (0, 0);
    for school in schools {
        let (ended, nothing) = school.backchannel_logouts().await?;
        total = (total.0 + ended, total.1 + nothing);
    }
    Ok(total)
}

/// Browsers (one per person) whose session at a school is still live.
async fn sessions_left(browsers: &[reqwest::Client], schools: &[&School]) -> anyhow::Result<usize> {
    let mut left = 0;
    for browser in browsers {
        for school in schools {
            if Federation::signed_in_at(browser, &school.url()).await? {
                left += 1;
            }
        }
    }
    Ok(left)
}

/// Counts into `row` what the schools took once the fault is over: delivered = sessions ended
/// (by the schools' metrics, and no more than the browsers find gone), twice = logouts that
/// found nothing left to end. Returns the sessions still live.
async fn count_logouts(
    row: &mut Row,
    browsers: &[reqwest::Client],
    schools: &[&School],
) -> anyhow::Result<usize> {
    let (ended, again) = logouts_taken(schools).await?;
    let left = sessions_left(browsers, schools).await?;
    row.delivered = (ended as usize).min(row.sent - left);
    row.twice = again as usize;
    Ok(left)
}

/// 20 people, each with linked accounts at 10 schools and signed in at all of them, sign out
/// at once; while the 200 logout tokens are on their way (over a slow link to each school) the
/// IdP gets `signal`, and is started again.
async fn fan_out_interrupted(
    name: &str,
    signal: &str,
    dir: &std::path::Path,
    pg: &OwnPostgres,
    redis: &OwnRedis,
) -> anyhow::Result<Row> {
    let options = Options {
        schools: 9,
        slow_backchannel: Some(Duration::from_millis(300)),
        ..Options::default()
    };
    let mut f = Federation::start(name, dir, pg, redis, options).await?;
    let (people, browsers) = f.signed_in_everywhere(20).await?;
    // The IdP is stopped and started while these are looked at: borrow the schools alone.
    let schools: Vec<&School> = std::iter::once(&f.node).chain(&f.schools).collect();
    let sent = people.len() * schools.len();
    anyhow::ensure!(
        sessions_left(&browsers, &schools).await? == sent,
        "everyone is signed in at every school"
    );
    let mut outs = tokio::task::JoinSet::new();
    for browser in browsers.clone() {
        let idp = f.idp.url();
        outs.spawn(async move { Federation::sign_out_at_idp(&idp, &browser).await });
    }
    let mut statuses = Vec::new();
    while let Some(status) = outs.join_next().await {
        statuses.push(status??);
    }
    let mut row = Row {
        fault: format!("IdP gets SIG{signal} during a fan-out to 10 school nodes"),
        sent,
        exactly_once: signal == "TERM",
        server_errors: statuses.iter().filter(|s| **s >= 500).count(),
        ..Row::default()
    };
    wait_for(
        "the first school ends a session",
        Duration::from_secs(20),
        || async {
            logouts_taken(&schools)
                .await
                .is_ok_and(|(ended, _)| ended > 0)
        },
    )
    .await?;
    let (before, _) = logouts_taken(&schools).await?;
    let exit = f.idp.signal(signal).await?;
    let (at_stop, _) = logouts_taken(&schools).await?;
    let stopped = Instant::now();
    f.idp.start().await?;
    let all = wait_for("every school told", Duration::from_secs(90), || async {
        logouts_taken(&schools)
            .await
            .is_ok_and(|(ended, _)| ended as usize >= sent)
    })
    .await;
    row.recovered = all.is_ok().then(|| stopped.elapsed());
    // A delivery the IdP held when it stopped is sent again once its claim (30 s) runs out:
    // count only when the IdP has nothing left to send.
    let db = f.idp_db.clone();
    wait_for(
        "the IdP's outbox is empty",
        Duration::from_secs(90),
        || async {
            let waiting: Result<i64, _> = shared::with_pool!(&db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL",
        )
        .fetch_one(pool)
        .await);
            waiting.is_ok_and(|n| n == 0)
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let left = count_logouts(&mut row, &browsers, &schools).await?;
    row.note = format!(
        "{before} of {sent} sessions at the schools had ended when the signal was sent, {at_stop} when the IdP had stopped (exit code {}); \
         the rest after the restart; {left} sessions left live afterwards (each browser opened each school){}",
        exit.map_or("none: killed".into(), |c| c.to_string()),
        if signal == "KILL" {
            "; a logout the IdP held when it died is sent again once its 30 s claim runs out (at least once): where the first had reached the school, the second finds nothing left to end, answered 200 and counted as `nothing_to_end`"
        } else {
            "; deliveries under way finished before the process ended, and none was sent twice"
        }
    );
    Ok(row)
}

/// What a page request answered: its status, or 0 when it got no answer at all.
async fn status_of(browser: &reqwest::Client, url: &str) -> u16 {
    browser
        .get(url)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Ten people signed in at the node through single sign-on; Redis is killed (it keeps nothing
/// on disk) and started again.
async fn redis_restarted(
    dir: &std::path::Path,
    pg: &OwnPostgres,
    redis: &mut OwnRedis,
) -> anyhow::Result<Row> {
    let mut f = Federation::start("redis", dir, pg, redis, Options::default()).await?;
    // No other schools here: signed in at `jpk` alone.
    let (people, browsers) = f.signed_in_everywhere(10).await?;
    let profile = format!("{}/profile", f.node.url());
    let mut row = Row {
        fault: "Redis restarted (all sessions lost) while 10 people are signed in".into(),
        sent: people.len(),
        ..Row::default()
    };
    redis.kill().await?;
    for b in &browsers {
        let status = status_of(b, &profile).await;
        if std::env::var_os("FAULTS_KEEP").is_some() {
            eprintln!("redis down: profile answered {status}");
        }
        match status {
            503 => row.unavailable += 1,
            s if s >= 500 || s == 0 => row.server_errors += 1,
            _ => {}
        }
    }
    let back = Instant::now();
    redis.resume().await?;
    let mut asked_again = 0;
    for (b, person) in browsers.iter().zip(&people) {
        let r = b.get(&profile).send().await?;
        match r.status().as_u16() {
            s if s >= 500 => row.server_errors += 1,
            303 | 302 | 307
                if r.headers()
                    .get("location")
                    .is_some_and(|l| l.to_str().unwrap_or("").contains("/login")) =>
            {
                asked_again += 1;
            }
            _ => {}
        }
        if f.sign_in_at(b, &f.node.url(), person).await? && status_of(b, &profile).await == 200 {
            row.delivered += 1;
        }
    }
    row.recovered = Some(back.elapsed());
    row.note = format!(
        "while Redis was down the profile page answered 503 to {} of {} people; once it was back {asked_again} of {} were asked to sign in again \
         (their sessions were gone), and {} of {} signed in again and saw their profile (counted as delivered)",
        row.unavailable,
        people.len(),
        people.len(),
        row.delivered,
        people.len()
    );
    Ok(row)
}

/// Five people use the node while PostgreSQL stops for 10 s; ten profile changes made just
/// before it stopped must reach the IdP once it is back.
async fn postgres_stopped(
    dir: &std::path::Path,
    pg: &mut OwnPostgres,
    redis: &OwnRedis,
) -> anyhow::Result<Row> {
    let mut f = Federation::start("postgres", dir, pg, redis, Options::default()).await?;
    // No other schools here: signed in at `jpk` alone.
    let (_, browsers) = f.signed_in_everywhere(5).await?;
    let mut row = Row {
        fault: "PostgreSQL stopped for 10 s under traffic (node pages, IdP sign-on hops)".into(),
        sent: 10,
        ..Row::default()
    };
    let ids: Vec<String> = f.persons.values().cloned().collect();
    for i in 0..row.sent {
        let patch = shared::profile::ProfileChanges::from([(
            shared::profile::ProfileField::Address,
            Some(format!("Tänav {i}")),
        )]);
        school_node::store::accounts::patch_personal_data(
            &f.node.db,
            &ids[i % ids.len()],
            &patch,
            shared::audit::Event::new(
                shared::audit::kind::PROFILE_CHANGED,
                shared::audit::Actor::system(),
            ),
        )
        .await?;
    }
    let profile = format!("{}/profile", f.node.url());
    let early: i64 = shared::with_pool!(&f.node.db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM idp_outbox WHERE kind = 'profile' AND delivered_at IS NOT NULL",
    )
    .fetch_one(pool)
    .await?);
    let hop = f.silent_sso();
    pg.pause().await?;
    let down = Instant::now();
    let mut answered = [0usize; 2];
    while down.elapsed() < Duration::from_secs(10) {
        for b in &browsers {
            for (i, url) in [&profile, &hop].into_iter().enumerate() {
                match status_of(b, url).await {
                    503 => row.unavailable += 1,
                    s if s >= 500 || s == 0 => row.server_errors += 1,
                    _ => answered[i] += 1,
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pg.resume().await?;
    let back = Instant::now();
    // Pools reconnect: within 15 s every page answers again, and from then on nothing fails.
    let recovered = wait_for("pages answer again", Duration::from_secs(15), || async {
        let mut ok = true;
        for b in &browsers {
            ok &= status_of(b, &profile).await == 200 && status_of(b, &hop).await == 303;
        }
        ok
    })
    .await;
    row.recovered = recovered.is_ok().then(|| back.elapsed());
    if recovered.is_err() {
        row.server_errors += 1;
    }
    for _ in 0..10 {
        for b in &browsers {
            if status_of(b, &profile).await != 200 || status_of(b, &hop).await != 303 {
                row.server_errors += 1;
            }
        }
    }
    let db = f.node.db.clone();
    let _ = wait_for("the outbox drains", Duration::from_secs(30), || async {
        school_node::store::idp_outbox::waiting(&db)
            .await
            .is_ok_and(|(n, _)| n == 0)
    })
    .await;
    let delivered: i64 = shared::with_pool!(&f.node.db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM idp_outbox WHERE kind = 'profile' AND delivered_at IS NOT NULL",
    )
    .fetch_one(pool)
    .await?);
    row.delivered = usize::try_from(delivered).unwrap_or(0);
    row.note = format!(
        "during the outage {} requests were answered 503 (\"try again in a moment\", at once while the probe found the database gone), \
         {} node profile pages and {} IdP sign-on hops were served anyway (sessions and codes live in Redis); \
         of the ten profile changes queued just before it, {early} had reached the IdP when the server stopped and the rest \
         after it came back (delivered = changes the IdP took)",
        row.unavailable, answered[0], answered[1]
    );
    Ok(row)
}

/// Five people ask for a sign-in link while the SMTP server is down past the letters'
/// deadline; the letters are given up (shown to the admin), then retried once it is back.
async fn smtp_down(
    dir: &std::path::Path,
    pg: &OwnPostgres,
    redis: &OwnRedis,
) -> anyhow::Result<Row> {
    let mut smtp = testkit::smtp::SmtpServer::start().await;
    smtp.stop().await;
    let options = Options {
        smtp_port: Some(smtp.port),
        mail_deadline_seconds: 3,
        ..Options::default()
    };
    let mut f = Federation::start("smtp", dir, pg, redis, options).await?;
    let people = f.people(5).await?;
    let mut row = Row {
        fault: "SMTP server down for the whole retry window, then back".into(),
        sent: people.len(),
        exactly_once: true,
        ..Row::default()
    };
    let recovery = f.node.url();
    for i in 0..people.len() {
        let browser = Federation::browser();
        let page = browser.get(format!("{recovery}/forgot")).send().await?;
        let status = page.status().as_u16();
        let body = page.text().await?;
        anyhow::ensure!(
            status == 200,
            "the forgotten-password page answers ({status})"
        );
        let sent = browser
            .post(format!("{recovery}/forgot"))
            .form(&[
                ("csrf", testkit::hidden(&body, "csrf")),
                ("username", format!("isik{i}@example.ee")),
            ])
            .send()
            .await?;
        if sent.status().is_server_error() {
            row.server_errors += 1;
        }
    }
    let db = f.node.db.clone();
    let n = people.len();
    wait_for(
        "the letters are given up",
        Duration::from_secs(30),
        || async {
            school_node::store::outbox::dead_letters(&db)
                .await
                .is_ok_and(|d| d.len() >= n)
        },
    )
    .await?;
    let given_up = school_node::store::outbox::dead_letters(&f.node.db).await?;
    smtp.restart().await;
    let back = Instant::now();
    for letter in &given_up {
        school_node::store::outbox::retry(&f.node.db, &letter.id, shared::retry::now_millis())
            .await?;
    }
    let _ = wait_for("the letters arrive", Duration::from_secs(20), || async {
        smtp.received().len() >= n
    })
    .await;
    row.recovered = Some(back.elapsed());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = smtp.received();
    let mut recipients: Vec<String> = received.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    let before = recipients.len();
    recipients.dedup();
    row.delivered = recipients.len();
    row.twice = before - recipients.len();
    row.note = format!(
        "{} letters were given up at their 3 s deadline and listed for the admin with the reason; retried once the server was back, \
         each arrived once",
        given_up.len()
    );
    Ok(row)
}

/// A school node is down longer than the logout deadline: its logouts are given up and listed
/// by `idp outbox`; retried there once it is back, each ends its session there once.
async fn node_down_past_deadline(
    dir: &std::path::Path,
    pg: &OwnPostgres,
    redis: &OwnRedis,
) -> anyhow::Result<Row> {
    let options = Options {
        schools: 1,
        logout_deadline_seconds: Some(3),
        ..Options::default()
    };
    let mut f = Federation::start("deadline", dir, pg, redis, options).await?;
    let (people, browsers) = f.signed_in_everywhere(5).await?;
    let mut row = Row {
        fault: "a school node down longer than the logout deadline".into(),
        sent: people.len() * 2,
        exactly_once: true,
        ..Row::default()
    };
    f.schools[0].service.signal("TERM").await?;
    for browser in &browsers {
        if Federation::sign_out_at_idp(&f.idp.url(), browser).await? >= 500 {
            row.server_errors += 1;
        }
    }
    let db = f.idp_db.clone();
    let n = people.len();
    wait_for(
        "the logouts to the absent one are given up",
        Duration::from_secs(30),
        || async {
            idp::store::outbox::dead_letters(&db)
                .await
                .is_ok_and(|d| d.len() >= n)
        },
    )
    .await?;
    f.schools[0].service.start().await?;
    let back = Instant::now();
    let listed = f.idp_cli(&["outbox"]).await?;
    let ids: Vec<String> = listed
        .lines()
        .filter_map(|l| l.split('\t').next())
        .map(str::to_owned)
        .collect();
    for id in &ids {
        f.idp_cli(&["outbox", "--retry", id]).await?;
    }
    // The school's counters started again with its process: all it counts came after.
    let schools = f.every_school();
    let sent = row.sent;
    let _ = wait_for(
        "every logout delivered",
        Duration::from_secs(20),
        || async {
            logouts_taken(&schools)
                .await
                .is_ok_and(|(ended, _)| ended as usize >= sent)
        },
    )
    .await;
    row.recovered = Some(back.elapsed());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let left = count_logouts(&mut row, &browsers, &schools).await?;
    row.note = format!(
        "the school was stopped; {} logouts to it were given up at the 3 s deadline and listed by `idp outbox` with the reason; \
         it was started again and `idp outbox --retry` ended each session there once ({left} left live)",
        ids.len()
    );
    Ok(row)
}
