//! A database outage is answered at once (issue 27): with the IdP's PostgreSQL stopped, what
//! needs the database gets its 503 with `Retry-After` within 100 ms instead of waiting for the
//! pool, what does not (a silent sign-on hop with a live session) keeps working, and the IdP
//! finds the database back by itself (its probe; `/health/ready` says which). Runs where the
//! suite is told PostgreSQL is installed (TEST_DATABASE_URL): it starts a server of its own.

use std::time::{Duration, Instant};

use federation_tests::processes::OwnPostgres;
use federation_tests::stack::{CHALLENGE, PASSWORD, REDIRECT_URI, Stack, USERNAME, urlencode};
use reqwest::StatusCode;

/// Whether the service at `base` reports its database ready (`/health/ready`).
async fn database_ready(base: &str) -> bool {
    let report: serde_json::Value = reqwest::get(format!("{base}/health/ready"))
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
            if database_ready(&stack.idp_url).await {
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
            if database_ready(&stack.idp_url).await {
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

/// Posts the school's own sign-in form; returns the answer and how long it took.
async fn node_sign_in(stack: &Stack, browser: &reqwest::Client) -> (reqwest::Response, Duration) {
    let form = browser
        .get(format!("{}/login?local=1", stack.node_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let started = Instant::now();
    let r = browser
        .post(format!("{}/login", stack.node_url))
        .form(&[
            ("csrf", testkit::hidden(&form, "csrf")),
            ("username", USERNAME.to_owned()),
            ("password", PASSWORD.to_owned()),
            ("next", "/".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    (r, started.elapsed())
}

#[tokio::test]
async fn with_its_database_down_a_school_answers_503_at_once_and_finds_it_back_by_itself() {
    if std::env::var("TEST_DATABASE_URL").is_err() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut pg = OwnPostgres::start(dir.path())
        .await
        .expect("a PostgreSQL of the test's own");
    let url = pg.url("postgres");
    let stack = Stack::start_with_node(|_| {}, |c| c.database_url = Some(url)).await;
    let browser = stack.browser();
    let (r, _) = node_sign_in(&stack, &browser).await;
    assert!(r.status().is_redirection(), "{}", r.status());

    pg.pause().await.unwrap();
    testkit::eventually(
        "the school's probe finds it gone",
        Duration::from_secs(10),
        || async {
            if database_ready(&stack.node_url).await {
                Err("still ready".to_owned())
            } else {
                Ok(())
            }
        },
    )
    .await;
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let fresh = stack.browser();
        let (r, took) = node_sign_in(&stack, &fresh).await;
        slowest = slowest.max(took);
        if r.status() != StatusCode::SERVICE_UNAVAILABLE {
            let (status, headers) = (r.status(), r.headers().clone());
            panic!("{status} {headers:?} {}", r.text().await.unwrap());
        }
        assert_eq!(r.headers()["retry-after"], "5");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    println!("school database down: slowest sign-in answer {slowest:?}");
    assert!(slowest < Duration::from_millis(100), "{slowest:?}");

    pg.resume().await.unwrap();
    let started = Instant::now();
    testkit::eventually(
        "the school's probe finds it back",
        Duration::from_secs(10),
        || async {
            if database_ready(&stack.node_url).await {
                Ok(())
            } else {
                Err("not yet".to_owned())
            }
        },
    )
    .await;
    println!(
        "school database back: noticed within {:?}",
        started.elapsed()
    );
    let (r, _) = node_sign_in(&stack, &stack.browser()).await;
    assert!(r.status().is_redirection(), "{}", r.status());
}
