//! What a node tells the IdP survives the IdP being away and a message it refuses (issue 15):
//! "Logi välja kõikjalt" pressed while the IdP is down is queued and carried out when it is
//! back, and a profile change the IdP refuses is set aside, shown to the admin with the reason,
//! and does not hold back the changes after it.

use std::time::Duration;

use federation_tests::world::{ANNA, World};
use federation_tests::{browser, hidden};
use school_node::store::idp_outbox::{self, MessageKind};

async fn text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// Posts the form whose action is `action` on the page at `page_url`; returns the final page.
async fn press(client: &reqwest::Client, base: &str, page_url: &str, action: &str) -> String {
    let page = text(client, &format!("{base}{page_url}")).await;
    assert!(page.contains(&format!("action=\"{action}\"")), "{page}");
    let done = client
        .post(format!("{base}{action}"))
        .form(&[("csrf", hidden(&page, "csrf"))])
        .send()
        .await
        .unwrap();
    assert!(done.status().is_success(), "{}", done.status());
    done.text().await.unwrap()
}

/// Whether the browser is signed in at the node: its profile opens rather than a sign-in page
/// (at the IdP, which may be down: the way there then fails).
async fn signed_in(client: &reqwest::Client, base: &str) -> bool {
    match client.get(format!("{base}/profile")).send().await {
        Ok(r) => r.url().as_str() == format!("{base}/profile"),
        Err(e) if e.is_connect() => false,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn sign_out_everywhere_pressed_while_the_idp_is_down_is_done_when_it_is_back() {
    let mut world = World::start().await;
    let a = world.url("a");
    let anna = browser(&world.federation);
    world.sign_in(&anna, "a", "Anna Allikas").await;
    world.link_matching(&anna, "a", "b", "Anna Allikas").await;
    // Anna also has a session at B alone, in another browser.
    let phone = browser(&world.federation);
    world.sign_in(&phone, "b", "Anna Allikas").await;
    let admin = browser(&world.federation);
    world.sign_in(&admin, "a", "Dora Direktor").await;
    let id = world.account("a", ANNA).await.id;
    let account_page = format!("/admin/accounts/{id}");

    world.federation.idp.as_mut().unwrap().stop().await.unwrap();
    let page = press(
        &admin,
        &a,
        &account_page,
        &format!("/admin/accounts/{id}/sign-out"),
    )
    .await;
    assert!(
        page.contains("Väljalogimine kõikjalt on järjekorras"),
        "{page}"
    );
    assert!(
        page.contains("Väljalogimine kõikjalt: järjekorras"),
        "{page}"
    );
    assert!(
        !signed_in(&anna, &a).await,
        "her session here ended at once"
    );

    world
        .federation
        .idp
        .as_mut()
        .unwrap()
        .restart()
        .await
        .unwrap();
    testkit::eventually("the IdP did it", Duration::from_secs(20), || async {
        let page = text(&admin, &format!("{a}{account_page}")).await;
        if page.contains("Väljalogimine kõikjalt: tehtud") {
            Ok(())
        } else {
            Err(page)
        }
    })
    .await;
    // With Redis the restarted IdP still knows her sessions, and ends the one at B; in memory
    // it forgot them when it stopped.
    if std::env::var("TEST_REDIS_URL").is_ok() {
        let b = world.url("b");
        testkit::eventually("signed out at B", Duration::from_secs(20), || async {
            if signed_in(&phone, &b).await {
                Err("still signed in at B".to_owned())
            } else {
                Ok(())
            }
        })
        .await;
    }
}

#[tokio::test]
async fn a_refused_profile_change_is_set_aside_and_later_changes_go_on() {
    let world = World::start().await;
    let a = world.url("a");
    let anna = browser(&world.federation);
    world.sign_in(&anna, "a", "Anna Allikas").await;
    world.link_matching(&anna, "a", "b", "Anna Allikas").await;
    let id = world.account("a", ANNA).await.id;
    let db = &world.federation.node("a").unwrap().state.db;
    // A change the IdP will never take (the node's own forms would not let it through).
    for _ in 0..2 {
        idp_outbox::enqueue(
            db,
            MessageKind::Profile,
            &id,
            r#"{"email":"not an address"}"#.into(),
            shared::retry::now_millis(),
        )
        .await
        .unwrap();
    }
    // Her next change, behind it in the same queue, still reaches B.
    world
        .edit_profile(&anna, "a", None, Some("+372 5555 0101"), None)
        .await;
    world
        .eventually("b", ANNA, "the phone after a refused change", |acc| {
            acc.phone.as_deref() == Some("+37255550101")
        })
        .await;

    let admin = browser(&world.federation);
    world.sign_in(&admin, "a", "Dora Direktor").await;
    let page = text(&admin, &format!("{a}/admin/mail")).await;
    assert!(page.contains("Isikuandmete muudatus"), "{page}");
    assert!(page.contains("refused with 400"), "{page}");
    let seqs: Vec<i64> = idp_outbox::dead_letters(db)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs.len(), 2);

    // Tried again, it is sent with her data as it is now, and goes through.
    let page = press(
        &admin,
        &a,
        "/admin/mail",
        &format!("/admin/idp-messages/{}/retry", seqs[0]),
    )
    .await;
    assert!(page.contains("Teadet proovitakse uuesti saata"), "{page}");
    let page = press(
        &admin,
        &a,
        "/admin/mail",
        &format!("/admin/idp-messages/{}/discard", seqs[1]),
    )
    .await;
    assert!(page.contains("Teatest loobuti"), "{page}");
    testkit::eventually("nothing left aside", Duration::from_secs(10), || async {
        let (waiting, _) = idp_outbox::waiting(db).await.unwrap();
        let dead = idp_outbox::dead_letters(db).await.unwrap().len();
        if waiting == 0 && dead == 0 {
            Ok(())
        } else {
            Err(format!("{waiting} waiting, {dead} given up"))
        }
    })
    .await;
    let page = text(&admin, &format!("{a}/admin/mail")).await;
    assert!(
        page.contains("Kõik teated on kesksele autentimisteenusele kohale jõudnud"),
        "{page}"
    );
    // A discarded message is gone: trying it again is a clear 404 page.
    let again = admin
        .post(format!("{a}/admin/idp-messages/{}/retry", seqs[1]))
        .form(&[("csrf", hidden(&page, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), reqwest::StatusCode::NOT_FOUND);
}

/// Holds (or frees) a node's messages to the IdP by their next attempt time, as a long backoff
/// would.
async fn hold_messages(world: &World, node: &str, until: i64) {
    let db = &world.federation.node(node).unwrap().state.db;
    shared::with_pool!(db, pool => {
        sqlx::query("UPDATE idp_outbox SET next_attempt_at = $1 WHERE delivered_at IS NULL")
            .bind(until)
            .execute(pool)
            .await
            .unwrap();
    });
}

/// "Logi välja kõikjalt" is pressed while the IdP is down; the person signs in again once it
/// is back, before the message gets there. The late message ends the sessions from before it,
/// not the new one.
#[tokio::test]
async fn a_late_sign_out_ends_only_the_sessions_from_before_it() {
    let mut world = World::start().await;
    let a = world.url("a");
    let anna = browser(&world.federation);
    world.sign_in(&anna, "a", "Anna Allikas").await;
    let admin = browser(&world.federation);
    world.sign_in(&admin, "a", "Dora Direktor").await;
    let id = world.account("a", ANNA).await.id;
    let account_page = format!("/admin/accounts/{id}");

    world.federation.idp.as_mut().unwrap().stop().await.unwrap();
    let page = press(
        &admin,
        &a,
        &account_page,
        &format!("/admin/accounts/{id}/sign-out"),
    )
    .await;
    assert!(page.contains("järjekorras"), "{page}");
    // Once the node has tried and failed, the message waits (a long backoff); held twice, in
    // case a retry was under way the first time.
    let db = world.federation.node("a").unwrap().state.db.clone();
    testkit::eventually("a failed attempt", Duration::from_secs(10), || async {
        let attempts: i64 = shared::with_pool!(&db, pool => sqlx::query_scalar(
            "SELECT CAST(COALESCE(MAX(attempts), 0) AS BIGINT) FROM idp_outbox WHERE delivered_at IS NULL",
        )
        .fetch_one(pool)
        .await
        .unwrap());
        if attempts > 0 { Ok(()) } else { Err("no attempt yet".to_owned()) }
    })
    .await;
    hold_messages(&world, "a", i64::MAX).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    hold_messages(&world, "a", i64::MAX).await;
    world
        .federation
        .idp
        .as_mut()
        .unwrap()
        .restart()
        .await
        .unwrap();
    // A second later (times are in seconds) Anna signs in again, in another browser.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let again = browser(&world.federation);
    world.sign_in(&again, "a", "Anna Allikas").await;

    hold_messages(&world, "a", 0).await;
    testkit::eventually("the IdP did it", Duration::from_secs(20), || async {
        let page = text(&admin, &format!("{a}{account_page}")).await;
        if page.contains("Väljalogimine kõikjalt: tehtud") {
            Ok(page)
        } else {
            Err(page)
        }
    })
    .await;
    // Her first IdP session ends when the IdP kept it (Redis); in memory the restart forgot it.
    let before = usize::from(std::env::var("TEST_REDIS_URL").is_ok());
    let page = text(&admin, &format!("{a}{account_page}")).await;
    assert!(
        page.contains(&format!(
            "Lõpetatud seansse keskses autentimisteenuses: {before}."
        )),
        "her new IdP session was not among them: {page}"
    );
    // Give a (wrong) back-channel logout time to arrive: the new session stays.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(signed_in(&again, &a).await, "signed in after the message");
}
