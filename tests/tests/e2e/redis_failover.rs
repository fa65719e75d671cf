//! Redis that fails over (issue 27): the IdP and the schools keep their sessions in Redis behind
//! three sentinels. With people signed in and silent sign-on hops and school pages loading, the
//! master is killed (SIGKILL); every answer is a success or a 503 with `Retry-After`, all is well
//! again within 10 s, and the sessions written before the kill are still there. Runs where the
//! suite is told Redis is installed (TEST_REDIS_URL): it starts servers and sentinels of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use federation_tests::browser_step_by_step;
use federation_tests::sentinels::{MASTER_NAME, SentinelGroup};
use federation_tests::stack::{CHALLENGE, urlencode};
use federation_tests::world::World;
use reqwest::StatusCode;

const PEOPLE: [&str; 4] = ["Anna Allikas", "Jaan Tamm", "Dora Direktor", "Mari Mets"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    /// 503 with `Retry-After`: the promised "come back in a moment".
    Unavailable,
    /// Anything else: a fault, or a session that is gone.
    Wrong,
}

struct Answer {
    at: Instant,
    what: &'static str,
    outcome: Outcome,
    detail: String,
}

fn judge(r: &reqwest::Response, success: impl Fn(&reqwest::Response) -> bool) -> Outcome {
    if r.status() == StatusCode::SERVICE_UNAVAILABLE && r.headers().contains_key("retry-after") {
        Outcome::Unavailable
    } else if success(r) {
        Outcome::Success
    } else {
        Outcome::Wrong
    }
}

/// A silent hop of the nav bar: the IdP answers the school with a code, no question asked.
async fn hop(browser: &reqwest::Client, world: &World) -> (Outcome, String) {
    let callback = format!("{}/sso/callback", world.url("a"));
    let url = format!(
        "{}/authorize?client_id=a&redirect_uri={}&response_type=code&scope=openid&state=s&nonce=n&prompt=none&code_challenge={CHALLENGE}&code_challenge_method=S256",
        world.idp,
        urlencode(&callback)
    );
    match browser.get(&url).send().await {
        Ok(r) => {
            let location = r
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let outcome = judge(&r, |r| {
                r.status().is_redirection()
                    && location.starts_with(&callback)
                    && location.contains("code=")
            });
            (outcome, format!("{} {location}", r.status()))
        }
        Err(e) => (Outcome::Wrong, e.to_string()),
    }
}

/// A school page that needs the person's session there.
async fn page(browser: &reqwest::Client, world: &World) -> (Outcome, String) {
    match browser
        .get(format!("{}/profile", world.url("a")))
        .send()
        .await
    {
        Ok(r) => {
            let outcome = judge(&r, |r| r.status() == StatusCode::OK);
            (outcome, r.status().to_string())
        }
        Err(e) => (Outcome::Wrong, e.to_string()),
    }
}

#[tokio::test]
async fn the_redis_master_dies_and_the_federation_follows_the_sentinels() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut group = SentinelGroup::start(dir.path())
        .await
        .expect("three Redis servers and three sentinels of the test's own");
    let world = World::start_with(|o| {
        o.redis_url = None;
        o.redis_sentinels = group.addresses();
        o.redis_master_name = Some(MASTER_NAME.into());
    })
    .await;

    let mut browsers = Vec::new();
    for person in PEOPLE {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let signing_in = federation_tests::browser_with(&world.federation, jar.clone());
        world.sign_in(&signing_in, "a", person).await;
        browsers.push(browser_step_by_step(&world.federation, jar));
    }
    // Sessions written more than a second before the kill must survive it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let master = group.master_port().await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let world = Arc::new(world);
    let mut load = Vec::new();
    for (i, browser) in browsers.iter().enumerate() {
        for kind in ["hop", "page"] {
            let (browser, world, stop) = (browser.clone(), world.clone(), stop.clone());
            load.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let (outcome, detail) = if kind == "hop" {
                        hop(&browser, &world).await
                    } else {
                        page(&browser, &world).await
                    };
                    answers.push(Answer {
                        at: Instant::now(),
                        what: kind,
                        outcome,
                        detail: format!("{} {detail}", PEOPLE[i]),
                    });
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                answers
            }));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    group.kill(master).await.unwrap();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(14)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answers = Vec::new();
    for task in load {
        answers.extend(task.await.unwrap());
    }

    let new_master = group.master_port().await.unwrap();
    assert_ne!(new_master, master, "the sentinels chose a new master");
    let count = |outcome: Outcome| answers.iter().filter(|a| a.outcome == outcome).count();
    let last_failure = answers
        .iter()
        .filter(|a| a.outcome != Outcome::Success && a.at > killed)
        .map(|a| a.at - killed)
        .max();
    let after_recovery = answers
        .iter()
        .filter(|a| a.at > killed + Duration::from_secs(10))
        .count();
    println!(
        "Redis failover: {} answers ({} hops, {} school pages); {} succeeded, {} were 503 with Retry-After, {} wrong; last failure {:?} after the kill; master {master} → {new_master}",
        answers.len(),
        answers.iter().filter(|a| a.what == "hop").count(),
        answers.iter().filter(|a| a.what == "page").count(),
        count(Outcome::Success),
        count(Outcome::Unavailable),
        count(Outcome::Wrong),
        last_failure,
    );
    let wrong: Vec<String> = answers
        .iter()
        .filter(|a| a.outcome == Outcome::Wrong)
        .take(5)
        .map(|a| {
            format!(
                "{} at {:?} after the kill: {}",
                a.what,
                a.at.checked_duration_since(killed),
                a.detail
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "answers other than 2xx/3xx or 503 with Retry-After: {wrong:#?}"
    );
    assert!(
        last_failure.is_none_or(|d| d < Duration::from_secs(10)),
        "every request succeeds again within 10 s of the kill: {last_failure:?}"
    );
    assert!(
        after_recovery > 50,
        "the load went on: {after_recovery} answers after 10 s"
    );

    // Each session from before the kill is still there, at the IdP and at the school.
    for browser in &browsers {
        assert_eq!(hop(browser, &world).await.0, Outcome::Success);
        assert_eq!(page(browser, &world).await.0, Outcome::Success);
    }
    assert!(group.keys(new_master).await.unwrap() > 0);
}
