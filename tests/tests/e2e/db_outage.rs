//! A database outage is answered at once (issue 27): with the IdP's PostgreSQL stopped, what
//! needs the database gets its 503 with `Retry-After` within 100 ms instead of waiting for the
//! pool, what does not (a silent sign-on hop with a live session) keeps working, and the IdP
//! finds the database back by itself (its probe; `/health/ready` says which). Runs where the
//! suite is told PostgreSQL is installed (TEST_DATABASE_URL): it starts a server of its own.

use std::time::{Duration, Instant};

use federation_tests::processes::OwnPostgres;
use federation_tests::stack::{CHALLENGE, REDIRECT_URI, Stack, urlencode};
use reqwest::StatusCode;

async fn database_ready(stack: &Stack) -> bool {
    let report: serde_json::Value = reqwest::get(format!("{}/health/ready", stack.idp_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    report["database"] == true
}

#[tokio::test]
async fn with_the_database_down_the_idp_answers_503_at_once_and_finds_it_back_by_itself() {
    if std::env::var("TEST_DATABASE_URL").is_err() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut pg = OwnPostgres::start(dir.path())
        .await
        .expect("a PostgreSQL of the test's own");
    let url = pg.url("postgres");
    let stack = Stack::start(|c| c.database_url = Some(url)).await;
    let browser = stack.browser();
    let first = stack.code(&browser, "rp-basic", CHALLENGE).await;
    assert_eq!(stack.exchange(&first).await.status(), StatusCode::OK);
    // A code is taken when it is exchanged, whatever comes of it: one for each try.
    let mut codes = Vec::new();
    for _ in 0..20 {
        codes.push(stack.code(&browser, "rp-basic", CHALLENGE).await);
    }

    pg.pause().await.unwrap();
    testkit::eventually(
        "the probe finds it gone",
        Duration::from_secs(10),
        || async {
            if database_ready(&stack).await {
                Err("still ready".to_owned())
            } else {
                Ok(())
            }
        },
    )
    .await;
    let mut slowest = Duration::ZERO;
    for code in &codes {
        let started = Instant::now();
        let r = stack.exchange(code).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()["retry-after"], "5");
        let answer: serde_json::Value = r.json().await.unwrap();
        assert_eq!(answer["error"], "temporarily_unavailable");
    }
    let started = Instant::now();
    let page = browser
        .get(format!("{}/link?from=jpk", stack.idp_url))
        .send()
        .await
        .unwrap();
    let page_took = started.elapsed();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(page.headers()["retry-after"], "5");
    println!("database down: slowest token answer {slowest:?}, page {page_took:?}");
    assert!(slowest < Duration::from_millis(100), "{slowest:?}");
    assert!(page_took < Duration::from_millis(100), "{page_took:?}");
    // A silent hop with the live session needs no database: it still gets its code.
    let silent = format!(
        "{}/authorize?client_id=rp-basic&redirect_uri={}&response_type=code&scope=openid&state=s&prompt=none&code_challenge={CHALLENGE}&code_challenge_method=S256",
        stack.idp_url,
        urlencode(REDIRECT_URI)
    );
    let r = browser.get(&silent).send().await.unwrap();
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.contains("code="), "{to}");

    // Back: the probe notices (readiness only reports what the probe saw), and work goes on.
    pg.resume().await.unwrap();
    let started = Instant::now();
    testkit::eventually(
        "the probe finds it back",
        Duration::from_secs(10),
        || async {
            if database_ready(&stack).await {
                Ok(())
            } else {
                Err("not yet".to_owned())
            }
        },
    )
    .await;
    println!("database back: noticed within {:?}", started.elapsed());
    let code = stack.code(&browser, "rp-basic", CHALLENGE).await;
    assert_eq!(stack.exchange(&code).await.status(), StatusCode::OK);
}
