//! The node's audit events: what a person sees of who used their account and data, what an
//! admin sees of an account, and that the table stays bounded.

use std::time::Duration;

use reqwest::StatusCode;
use shared::audit::{Actor, Event, Filter, kind};

use crate::common::TestNode;

async fn all_events(node: &TestNode) -> Vec<Event> {
    shared::audit::list(
        &node.state.db,
        &Filter {
            limit: 1000,
            ..Filter::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_person_sees_who_signed_in_viewed_and_changed_their_data() {
    let node = TestNode::spawn().await;
    let mari = node.mari().await;
    node.director().await;
    let mari_browser = node.mari_signed_in().await;
    let admin = node.director_signed_in().await;
    admin.get(&format!("/admin/accounts/{mari}")).await;
    let page = admin.get(&format!("/admin/accounts/{mari}")).await;
    let csrf = page.csrf();
    let saved = admin
        .post(
            &format!("/admin/accounts/{mari}"),
            &[
                ("csrf", csrf.as_str()),
                ("first_name", "Mari"),
                ("last_name", "Maasikas"),
                ("personal_code", ""),
                ("email", "mari@example.ee"),
                ("phone", "+372 5555 1234"),
                ("address", ""),
                ("roles", "teacher"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);

    let profile = mari_browser.get("/profile").await;
    profile.assert_contains("Tegevused sinu kontoga");
    profile.assert_contains("Sisselogimine salasõnaga");
    profile.assert_contains("Andmete vaatamine");
    profile.assert_contains("Anne Direktor (administraator)");
    profile.assert_contains("Andmete muutmine: Telefon");
    // The admin's page of the account shows the same.
    let page = admin.get(&format!("/admin/accounts/{mari}")).await;
    page.assert_contains("Konto viimased sündmused");
    page.assert_contains("Andmete muutmine: Telefon");

    // No event holds a secret or an old value; each names the request and the network.
    let events = all_events(&node).await;
    let text = serde_json::to_string(&events).unwrap();
    for secret in ["maasikad-2024", "direktori-pw", "+37255551234", "5555"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let viewed = events
        .iter()
        .find(|e| e.kind == kind::DATA_VIEWED)
        .expect("the view is recorded");
    assert_eq!(viewed.subject.as_deref(), Some(mari.as_str()));
    assert_eq!(viewed.actor.role.as_deref(), Some("admin"));
    assert_eq!(viewed.network.as_deref(), Some("127.0.0.0/24"));
    assert_eq!(viewed.request_id.as_ref().map(String::len), Some(12));
}

#[tokio::test]
async fn a_wrong_password_shows_in_the_owners_activity() {
    let node = TestNode::spawn().await;
    node.mari().await;
    node.browser()
        .sign_in("Mari Maasikas", "vale-salasona")
        .await
        .assert_contains("Vale kasutajanimi");
    let profile = node.mari_signed_in().await.get("/profile").await;
    profile.assert_contains("Sisselogimine salasõnaga (ebaõnnestus)");
}

/// Events are never edited: the database refuses an UPDATE.
#[tokio::test]
async fn an_event_cannot_be_edited() {
    let node = TestNode::spawn().await;
    let event = Event::new(kind::SIGNOUT, Actor::system()).subject("x");
    shared::audit::record(&node.state.db, &event).await.unwrap();
    let db = &node.state.db;
    let edited = shared::with_pool!(db, pool => sqlx::query("UPDATE audit_events SET kind = 'nothing'")
        .execute(pool)
        .await
        .map(|_| ()));
    assert!(edited.is_err(), "an UPDATE of an event must fail");
    assert_eq!(all_events(&node).await[0].kind, kind::SIGNOUT);
}

/// The sweep deletes events past `audit_retention_days` and keeps the rest.
#[tokio::test]
async fn the_retention_sweep_keeps_the_event_table_bounded() {
    let node = TestNode::spawn_with(|c| {
        c.audit_retention_days = 1;
        c.retention_sweep_seconds = 1;
    })
    .await;
    let mut old = Event::new(kind::SIGNOUT, Actor::system()).subject("old");
    old.at -= 2 * 86_400_000;
    let fresh = Event::new(kind::SIGNOUT, Actor::system()).subject("fresh");
    for event in [&old, &fresh] {
        shared::audit::record(&node.state.db, event).await.unwrap();
    }
    testkit::eventually(
        "the old event is swept",
        Duration::from_secs(10),
        || async {
            let subjects: Vec<String> = all_events(&node)
                .await
                .into_iter()
                .filter_map(|e| e.subject)
                .collect();
            if subjects == ["fresh"] {
                Ok(())
            } else {
                Err(format!("{subjects:?}"))
            }
        },
    )
    .await;
}

/// A new password and a closed account are recorded with the change itself (one transaction).
#[tokio::test]
async fn a_new_password_and_a_closed_account_are_recorded_with_the_change() {
    let node = TestNode::spawn().await;
    let mari = node.mari().await;
    node.director().await;
    node.mari_signed_in()
        .await
        .submit(
            "/profile",
            "/profile/password",
            &[
                ("current_password", "maasikad-2024"),
                ("password", "uus-salasõna-2"),
                ("password_again", "uus-salasõna-2"),
            ],
        )
        .await
        .assert_redirect("/profile");
    let admin = node.director_signed_in().await;
    let page = admin.get(&format!("/admin/accounts/{mari}")).await;
    admin
        .post(
            &format!("/admin/accounts/{mari}/disable"),
            &[("csrf", page.csrf().as_str())],
        )
        .await
        .assert_redirect(&format!("/admin/accounts/{mari}"));
    let kinds: Vec<String> = all_events(&node)
        .await
        .into_iter()
        .filter(|e| e.subject.as_deref() == Some(mari.as_str()))
        .map(|e| e.kind)
        .collect();
    assert!(kinds.iter().any(|k| k == kind::PASSWORD_SET), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == kind::ACCOUNT_CLOSED), "{kinds:?}");
    assert!(node.get_account(&mari).await.disabled);
}
