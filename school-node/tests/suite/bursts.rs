//! Limits that must hold when the requests arrive together, not only one after another: an
//! attacker sends a burst, and a count read before the check and written after it lets the
//! whole burst through.

use std::time::{Duration, Instant};

use crate::common::{Browser, TestNode};

/// Opens the sign-in form in each browser, then posts all the forms at once; each answer's
/// page text and how long it took.
async fn burst(browsers: Vec<Browser>, username: &str, password: &str) -> Vec<(String, Duration)> {
    let mut forms = Vec::new();
    for browser in browsers {
        let csrf = browser.get("/login").await.csrf();
        forms.push((browser, csrf));
    }
    let mut set = tokio::task::JoinSet::new();
    for (browser, csrf) in forms {
        let (username, password) = (username.to_owned(), password.to_owned());
        set.spawn(async move {
            let started = Instant::now();
            let page = browser
                .post(
                    "/login",
                    &[
                        ("csrf", &csrf),
                        ("username", &username),
                        ("password", &password),
                    ],
                )
                .await;
            (page.body, started.elapsed())
        });
    }
    set.join_all().await
}

fn checked(answers: &[(String, Duration)]) -> usize {
    answers
        .iter()
        .filter(|(body, _)| body.contains("Vale kasutajanimi või salasõna."))
        .count()
}

fn paused(answers: &[(String, Duration)]) -> usize {
    answers
        .iter()
        .filter(|(body, _)| body.contains("Liiga palju ebaõnnestunud sisselogimiskatseid"))
        .count()
}

#[tokio::test]
async fn forty_guesses_at_once_from_one_address_check_five_passwords() {
    let node = TestNode::spawn_with(|c| {
        c.trust_forwarded_for = true;
        c.throttle.delay_base_millis = 1;
        c.throttle.delay_max_millis = 1;
    })
    .await;
    node.mari().await;
    let browsers = (0..40)
        .map(|_| Browser::from_address(&node.url, "203.0.113.40"))
        .collect();
    let answers = burst(browsers, "Mari Maasikas", "vale-salasona").await;
    assert_eq!(checked(&answers), 5, "five guesses are checked");
    assert_eq!(paused(&answers), 35, "and the rest are refused unchecked");
    // The pair stays paused for the real password too; Mari elsewhere is not.
    Browser::from_address(&node.url, "203.0.113.40")
        .sign_in("Mari Maasikas", "maasikad-2024")
        .await
        .assert_contains("Liiga palju");
    Browser::from_address(&node.url, "198.51.100.40")
        .sign_in_ok("Mari Maasikas", "maasikad-2024", "Mari Maasikas")
        .await;
}

#[tokio::test]
async fn forty_usernames_at_once_from_one_address_check_thirty() {
    let node = TestNode::spawn_with(|c| c.trust_forwarded_for = true).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let browser = Browser::from_address(&node.url, "203.0.113.41");
        set.spawn(async move {
            let csrf = browser.get("/login").await.csrf();
            (browser, csrf, format!("Tundmatu Inimene{i}"))
        });
    }
    let forms = set.join_all().await;
    let mut set = tokio::task::JoinSet::new();
    for (browser, csrf, username) in forms {
        set.spawn(async move {
            let page = browser
                .post(
                    "/login",
                    &[("csrf", &csrf), ("username", &username), ("password", "x")],
                )
                .await;
            (page.body, Duration::ZERO)
        });
    }
    let answers = set.join_all().await;
    assert_eq!(checked(&answers), 30, "thirty guesses are checked");
    assert_eq!(paused(&answers), 10);
}

#[tokio::test]
async fn a_burst_for_one_username_from_many_addresses_is_slowed_down_as_a_series_is() {
    let node = TestNode::spawn_with(|c| {
        c.trust_forwarded_for = true;
        c.throttle.slow_after = 5;
        c.throttle.delay_base_millis = 2_000;
        c.throttle.delay_max_millis = 2_000;
    })
    .await;
    node.mari().await;
    let browsers = (0..20)
        .map(|i| Browser::from_address(&node.url, &format!("198.51.100.{}", 100 + i)))
        .collect();
    let answers = burst(browsers, "Mari Maasikas", "vale-salasona").await;
    assert_eq!(checked(&answers), 20, "no pair or address is paused");
    let slowed = answers
        .iter()
        .filter(|(_, took)| *took >= Duration::from_millis(2_000))
        .count();
    assert!(
        slowed >= 15,
        "every attempt after the fifth waits the delay, however they arrive: {slowed} of 20 did"
    );
}
