//! Global sign-out that no one clicked (DESIGN §3.4, issue 6): an IdP session that expires, a
//! school admin's "sign out everywhere", and disabling an account each end the person's sessions
//! at every node through back-channel logout. IdP and four nodes as separate servers, on SQLite
//! + memory or PostgreSQL + Redis.

use std::time::Duration;

use federation_tests::world::{ANNA, World};
use federation_tests::{browser, hidden};

/// Whether the browser is signed in at `node`: its profile opens rather than a sign-in page.
async fn signed_in(world: &World, client: &reqwest::Client, node: &str) -> bool {
    let r = client
        .get(format!("{}/profile", world.url(node)))
        .send()
        .await
        .unwrap();
    r.url().as_str() == format!("{}/profile", world.url(node))
}

/// Waits until the browser is signed out at every one of `nodes`.
async fn signed_out_everywhere(world: &World, client: &reqwest::Client, nodes: &[&str], why: &str) {
    let what = format!("signed out everywhere after {why}");
    testkit::eventually(&what, Duration::from_secs(20), || async {
        let mut still = Vec::new();
        for node in nodes {
            if signed_in(world, client, node).await {
                still.push(*node);
            }
        }
        if still.is_empty() {
            Ok(())
        } else {
            Err(format!("still signed in at {still:?}"))
        }
    })
    .await;
}

/// The admin of A presses a button on Anna's account page.
async fn admin_presses(world: &World, admin: &reqwest::Client, action: &str) {
    let anna = world.account("a", ANNA).await;
    let page = admin
        .get(format!("{}/admin/accounts/{}", world.url("a"), anna.id))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("action=\"/admin/accounts/{}/{action}\"", anna.id)),
        "{page}"
    );
    let done = admin
        .post(format!(
            "{}/admin/accounts/{}/{action}",
            world.url("a"),
            anna.id
        ))
        .form(&[("csrf", hidden(&page, "csrf"))])
        .send()
        .await
        .unwrap();
    assert!(done.status().is_success(), "{}", done.status());
}

#[tokio::test]
async fn an_expired_idp_session_signs_the_person_out_at_every_node() {
    let world = World::start_with(|o| o.idp_session_idle_seconds = Some(2)).await;
    let client = browser(&world.federation);
    world.sign_in(&client, "a", "Anna Allikas").await;
    world.sign_in(&client, "b", "Anna Allikas").await;
    assert!(signed_in(&world, &client, "a").await && signed_in(&world, &client, "b").await);
    // No one touches the IdP for longer than its idle time: its session ends and both nodes are
    // told, though their own sessions would have lasted.
    signed_out_everywhere(&world, &client, &["a", "b"], "the IdP session expired").await;
}

#[tokio::test]
async fn an_admin_signs_a_person_out_everywhere_and_disabling_does_the_same() {
    let world = World::start().await;
    let anna = browser(&world.federation);
    world.sign_in(&anna, "a", "Anna Allikas").await;
    world.link_matching(&anna, "a", "b", "Anna Allikas").await;
    // Elsewhere, Anna has a session at B alone: her account there is linked to the one at A.
    let phone = browser(&world.federation);
    world.sign_in(&phone, "b", "Anna Allikas").await;
    let admin = browser(&world.federation);
    world.sign_in(&admin, "a", "Dora Direktor").await;

    admin_presses(&world, &admin, "sign-out").await;
    signed_out_everywhere(&world, &anna, &["a", "b"], "the admin's sign-out").await;
    signed_out_everywhere(&world, &phone, &["b"], "the admin's sign-out").await;
    // It removes nothing else: the admin is still signed in.
    assert!(signed_in(&world, &admin, "a").await);

    // Disabling the account ends her sessions everywhere too.
    world.sign_in(&anna, "b", "Anna Allikas").await;
    assert!(signed_in(&world, &anna, "b").await);
    admin_presses(&world, &admin, "disable").await;
    signed_out_everywhere(&world, &anna, &["b"], "disabling the account").await;
    assert!(signed_in(&world, &admin, "a").await);
}
