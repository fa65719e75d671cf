//! Hostile input on every text field of the node's forms (on PostgreSQL when the environment
//! names one): arbitrary Unicode, NUL and other control characters, very long values. Never a
//! 5xx; a control character is refused with a page before anything reaches the database, and
//! nothing stored changes.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;

use crate::common::TestNode;

/// Values a careless or hostile person might type.
fn hostile_values(cases: u32) -> Vec<String> {
    let mut values: Vec<String> = [
        "\0",
        "Mari\0Maasikas",
        "mari@example.ee\0",
        "\u{1b}[2J",
        "\u{202e}lasanalas",
        "'; DROP TABLE accounts; --",
        "%00",
        "🙂🙃",
        "\u{fffd}\u{feff}",
        "a\r\nb",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    values.push("õ".repeat(5_000));
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let strategy = prop_oneof![
        any::<String>(),
        "\\PC{0,40}",
        "[\\x00-\\x1f a-zõäöü@.]{0,30}",
    ];
    for _ in 0..cases {
        values.push(strategy.new_tree(&mut runner).unwrap().current());
    }
    values
}

#[tokio::test]
async fn no_form_answers_arbitrary_text_with_a_server_error() {
    let node = TestNode::spawn().await;
    let mari = node.mari().await;
    node.director().await;
    let accounts_before = node.account_count().await;
    let visitor = node.browser();
    let signed_in = node.mari_signed_in().await;
    let admin = node.director_signed_in().await;
    for value in hostile_values(40) {
        let v = value.as_str();
        let pages = [
            visitor
                .submit("/login", "/login", &[("username", v), ("password", v)])
                .await,
            visitor
                .submit("/forgot", "/forgot", &[("username", v)])
                .await,
            visitor
                .submit(
                    "/apply",
                    "/apply",
                    &[
                        ("children_codes", v),
                        ("personal_code", v),
                        ("first_name", v),
                        ("last_name", v),
                        ("email", v),
                        ("phone", v),
                    ],
                )
                .await,
            signed_in
                .submit(
                    "/profile",
                    "/profile",
                    &[("email", v), ("phone", v), ("address", v)],
                )
                .await,
            signed_in
                .submit(
                    "/profile",
                    "/profile/password",
                    &[("password", v), ("password_again", v)],
                )
                .await,
            admin
                .submit(
                    "/admin/accounts/new",
                    "/admin/accounts",
                    &[
                        ("first_name", v),
                        ("last_name", v),
                        ("personal_code", v),
                        ("email", v),
                        ("phone", v),
                        ("address", v),
                        ("temporary_password", v),
                    ],
                )
                .await,
        ];
        for page in pages {
            assert!(
                !page.status.is_server_error(),
                "{:?} answered {}:\n{}",
                value.escape_debug().to_string(),
                page.status,
                page.body
            );
            if shared::names::has_forbidden_control(v) {
                assert_eq!(
                    page.status,
                    StatusCode::BAD_REQUEST,
                    "{:?}",
                    v.escape_debug().to_string()
                );
                page.assert_contains("juhtmärke");
            }
        }
    }
    // Mari's data and the accounts are as they were, but what a valid value changed.
    assert!(node.account_count().await >= accounts_before);
    let after = node.get_account(&mari).await;
    assert!(
        after
            .email
            .as_deref()
            .is_none_or(|e| !shared::names::has_forbidden_control(e))
    );
    assert_eq!(after.first_name, "Mari");
}

/// Every page shows one person's data or a form with their token: none is kept by a browser or
/// a proxy. The style sheet may be cached.
#[tokio::test]
async fn pages_with_personal_data_are_not_cached() {
    let node = TestNode::spawn().await;
    let mari = node.mari().await;
    node.director().await;
    let admin = node.director_signed_in().await;
    let pages = [
        "/".to_owned(),
        "/profile".to_owned(),
        "/password".to_owned(),
        "/admin/accounts".to_owned(),
        "/admin/accounts/new".to_owned(),
        format!("/admin/accounts/{mari}"),
        "/admin/applications".to_owned(),
        "/admin/mail".to_owned(),
    ];
    for path in &pages {
        let page = admin.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
    }
    let anonymous = node.browser();
    for path in ["/login", "/forgot", "/apply", "/no-such-page"] {
        let page = anonymous.get(path).await;
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
    }
    let css = anonymous.get("/static/site.css").await;
    assert_ne!(
        css.headers.get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
}

#[tokio::test]
async fn the_language_cookie_is_secure_under_https() {
    let node = TestNode::spawn_with(|c| c.public_url = "https://kool.example.ee".into()).await;
    let page = node.browser().get("/lang/en").await;
    let cookie = page.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("lang=en") || cookie.contains("=en"),
        "{cookie}"
    );
    assert!(cookie.contains("Secure"), "{cookie}");
}

/// Every route is counted, the admin pages (nested under /admin) among them, as
/// docs/OPERATIONS.md shows an operator.
#[tokio::test]
async fn every_route_appears_in_the_metrics_the_admin_pages_too() {
    let port = testkit::free_port();
    let node = TestNode::spawn_with(|c| {
        c.metrics_listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
    })
    .await;
    let mari = node.mari().await;
    node.director().await;
    let admin = node.director_signed_in().await;
    for path in [
        "/profile",
        "/admin/accounts",
        &format!("/admin/accounts/{mari}"),
    ] {
        assert_eq!(admin.get(path).await.status, StatusCode::OK, "{path}");
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for route in [
        "/profile",
        "/admin/accounts",
        "/admin/accounts/{id}",
        "/login",
    ] {
        let series = metrics.lines().find(|line| {
            line.starts_with("http_requests_total{")
                && line.contains("service=\"school-node\"")
                && line.contains(&format!("route=\"{route}\""))
        });
        assert!(series.is_some(), "{route} is counted:\n{metrics}");
    }
}
