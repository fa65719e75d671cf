//! The node's outbox to the IdP, with two instances of one node sharing its database: each
//! message is sent once, one account's messages arrive in the order they were made, and a
//! message the IdP refuses is set aside without holding back the ones after it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use school_node::sso::idp_api::IdpApi;
use school_node::store::idp_outbox::{self, MessageKind};
use shared::federation::path;
use shared::jwt::{Alg, SigningKey};
use shared::profile::{ProfileChange, ProfileField};

use crate::common::TestNode;

type Received = Arc<Mutex<Vec<(String, String)>>>;

/// An IdP that notes each profile change (account, address), taking a moment over each, and
/// refuses an address of "refuse".
async fn recording_idp(received: Received) -> String {
    let app = axum::Router::new().route(
        path::PROFILE_CHANGES,
        axum::routing::post(move |Json(change): Json<ProfileChange>| {
            let received = received.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let address = change
                    .changes
                    .get(&ProfileField::Address)
                    .cloned()
                    .flatten()
                    .unwrap_or_default();
                if address == "refuse" {
                    let answer = serde_json::json!({"error": "invalid_request"});
                    return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
                }
                received
                    .lock()
                    .unwrap()
                    .push((change.sub.to_string(), address));
                Json(serde_json::json!({"linked": true, "version": 1})).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn instance(node: &TestNode, issuer: &str) -> IdpApi {
    IdpApi {
        db: node.state.db.clone(),
        http: reqwest::Client::new(),
        key: Arc::new(SigningKey::generate(Alg::ES256).unwrap().0),
        issuer: issuer.into(),
        client_id: "jpk".into(),
        retry_base_millis: 10,
        retry_max_millis: 50,
        poll_millis: 10,
        deadline_millis: 60_000,
        wake: Arc::default(),
    }
}

#[tokio::test]
async fn two_instances_send_each_message_once_in_each_accounts_order() {
    let node = TestNode::spawn().await;
    let received = Received::default();
    let issuer = recording_idp(received.clone()).await;
    let db = &node.state.db;
    for step in 0..5 {
        for account in 0..10 {
            // The third change of account 7 is one the IdP refuses.
            let address = if account == 7 && step == 2 {
                "refuse".to_owned()
            } else {
                format!("{step}")
            };
            let payload = serde_json::json!({ "address": address }).to_string();
            idp_outbox::enqueue(
                db,
                MessageKind::Profile,
                &format!("acct-{account}"),
                payload,
                shared::retry::now_millis(),
            )
            .await
            .unwrap();
        }
    }
    let (one, two) = (instance(&node, &issuer), instance(&node, &issuer));
    testkit::eventually("every message handled", Duration::from_secs(20), || async {
        let (a, b) = tokio::join!(one.deliver_due(), two.deliver_due());
        a.unwrap();
        b.unwrap();
        match idp_outbox::waiting(db).await.unwrap() {
            (0, _) => Ok(()),
            (n, _) => Err(format!("{n} waiting")),
        }
    })
    .await;

    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 49, "each sent once: {received:?}");
    for account in 0..10 {
        let sub = format!("acct-{account}");
        let steps: Vec<&str> = received
            .iter()
            .filter(|(s, _)| *s == sub)
            .map(|(_, a)| a.as_str())
            .collect();
        let expected: Vec<&str> = if account == 7 {
            vec!["0", "1", "3", "4"]
        } else {
            vec!["0", "1", "2", "3", "4"]
        };
        assert_eq!(steps, expected, "{sub} in order");
    }
    let dead = idp_outbox::dead_letters(db).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].account_id, "acct-7");
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("refused with 400"),
        "{dead:?}"
    );
}

#[tokio::test]
async fn a_message_the_idp_never_answers_is_given_up_at_its_deadline() {
    let node = TestNode::spawn().await;
    // Nothing listens here.
    let mut api = instance(&node, "http://127.0.0.1:9");
    api.deadline_millis = 300;
    let db = &node.state.db;
    idp_outbox::enqueue(
        db,
        MessageKind::SignOut,
        "acct-1",
        "{}".into(),
        shared::retry::now_millis(),
    )
    .await
    .unwrap();
    testkit::eventually("given up", Duration::from_secs(10), || async {
        api.deliver_due().await.unwrap();
        let dead = idp_outbox::dead_letters(db).await.unwrap();
        match dead.first() {
            Some(d) => Ok(d.clone()),
            None => Err("still waiting".to_owned()),
        }
    })
    .await;
    let dead = idp_outbox::dead_letters(db).await.unwrap();
    assert_eq!(dead[0].kind, "sign_out");
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .starts_with("past its deadline"),
        "{dead:?}"
    );
    assert_eq!(idp_outbox::waiting(db).await.unwrap().0, 0);
}

/// An IdP that refuses the first language it is sent and notes the ones after.
async fn language_idp(received: Arc<Mutex<Vec<String>>>) -> String {
    let app = axum::Router::new().route(
        path::PROFILE_CHANGES,
        axum::routing::post(move |Json(change): Json<ProfileChange>| {
            let received = received.clone();
            async move {
                let language = change.language.map(|l| l.as_str().to_owned());
                let mut seen = received.lock().unwrap();
                seen.push(language.unwrap_or_default());
                if seen.len() == 1 {
                    let answer = serde_json::json!({"error": "invalid_request"});
                    return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
                }
                Json(serde_json::json!({"linked": true, "version": 1})).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_chosen_language_is_told_once_and_a_retried_one_is_the_accounts_language_now() {
    let node = TestNode::spawn().await;
    let mari = node.mari().await;
    node.director().await;
    let db = &node.state.db;
    let received = Arc::new(Mutex::new(Vec::new()));
    let api = instance(&node, &language_idp(received.clone()).await);
    // Signed in, she switches to Russian twice: one message, the second switch changed nothing.
    let browser = node.mari_signed_in().await;
    for _ in 0..2 {
        browser.get("/lang/ru").await;
    }
    assert_eq!(idp_outbox::waiting(db).await.unwrap().0, 1);
    api.deliver_due().await.unwrap();
    let dead = idp_outbox::dead_letters(db).await.unwrap();
    assert_eq!(dead.len(), 1, "refused: set aside");
    assert_eq!(dead[0].kind, "language");
    // The admin sees it named, in the page's language.
    let admin = node.director_signed_in().await;
    admin
        .get("/admin/mail")
        .await
        .assert_contains("Valitud keel");
    // Meanwhile she chose English; the retried message says English, not the refused Russian.
    browser.get("/lang/en").await;
    school_node::service::idp_messages::retry(db, None, dead[0].seq)
        .await
        .unwrap();
    testkit::eventually("both sent", Duration::from_secs(10), || async {
        api.deliver_due().await.unwrap();
        match idp_outbox::waiting(db).await.unwrap() {
            (0, _) => Ok(()),
            (n, _) => Err(format!("{n} waiting")),
        }
    })
    .await;
    assert_eq!(*received.lock().unwrap(), ["ru", "en", "en"]);
    assert_eq!(
        school_node::store::accounts::locale(db, &mari)
            .await
            .unwrap()
            .as_deref(),
        Some("en")
    );
}
