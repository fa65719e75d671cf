//! Linking accounts across institutions, single sign-on through links, and profile sync
//! (DESIGN §4.4–4.6), end to end: the IdP and four school nodes as separate servers over HTTP,
//! on SQLite + memory, or on PostgreSQL + Redis when TEST_DATABASE_URL / TEST_REDIS_URL say so.

use std::time::Duration;

use federation_tests::world::{ANNA, MARI, World};
use federation_tests::{browser, hidden};
use reqwest::StatusCode;
use school_node::service::accounts::Account;

#[tokio::test]
async fn linked_accounts_open_without_a_form_and_share_their_profile() {
    let world = World::start().await;
    let client = browser(&world.federation);
    let home = world.sign_in(&client, "a", "Anna Allikas").await;
    assert!(home.contains("Tere, Anna Allikas!"), "{home}");

    // A–B: the e-mails differ, so the person chooses; she keeps B's.
    let review = world.link(&client, "a", "b", "Anna Allikas").await;
    assert_eq!(review.status(), StatusCode::OK);
    let review = review.text().await.unwrap();
    assert!(
        review.contains("type=\"radio\" name=\"email\" value=\"a\""),
        "{review}"
    );
    let done = world.confirm(&client, &review, &[("email", "b")]).await;
    assert!(done.contains("Kontod on seotud"), "{done}");
    // Linking made their personal data one: A has B's e-mail now.
    world
        .eventually("a", ANNA, "the chosen e-mail", |a| {
            a.email.as_deref() == Some("anna@b.ee")
        })
        .await;

    // B–C, started at B.
    world.link_matching(&client, "b", "c", "Anna Allikas").await;
    world
        .eventually("c", ANNA, "the shared e-mail", |a| {
            a.email.as_deref() == Some("anna@b.ee")
        })
        .await;

    // A new browser signs in at A only, and then opens B and C with no form.
    let fresh = browser(&world.federation);
    let home = world.sign_in(&fresh, "a", "Anna Allikas").await;
    for node in ["b", "c"] {
        assert!(
            home.contains(&format!("data-institution=\"{node}\"")),
            "the nav bar shows {node}: {home}"
        );
    }
    for node in ["b", "c"] {
        let (url, page) = world.open(&fresh, node).await;
        assert_eq!(url, format!("{}/", world.url(node)), "{page}");
        assert!(page.contains("Tere, Anna Allikas!"), "{page}");
    }

    // A change at C reaches A and B.
    world
        .edit_profile(
            &fresh,
            "c",
            Some("anna@c.ee"),
            Some("+372 5123 0000"),
            Some("Tartu mnt 1, Tallinn"),
        )
        .await;
    for node in ["a", "b"] {
        let account = world
            .eventually(node, ANNA, "C's change", |a| {
                a.email.as_deref() == Some("anna@c.ee")
            })
            .await;
        assert_eq!(account.phone.as_deref(), Some("+37251230000"));
        assert_eq!(account.address.as_deref(), Some("Tartu mnt 1, Tallinn"));
    }
    // Roles are not synced.
    assert!(
        world
            .account("a", ANNA)
            .await
            .roles
            .iter()
            .any(|r| r.as_str() == "teacher")
    );
    assert!(
        !world
            .account("b", ANNA)
            .await
            .roles
            .iter()
            .any(|r| r.as_str() == "teacher")
    );

    // Removing the link to C stops single sign-on there: a new sign-in at A no longer opens C.
    let removed = world.remove_link(&fresh, "a", "c").await;
    assert!(removed.contains("Seos on eemaldatud."), "{removed}");
    assert!(!removed.contains("data-institution=\"c\""), "{removed}");
    let third = browser(&world.federation);
    world.sign_in(&third, "a", "Anna Allikas").await;
    let (url, page) = world.open(&third, "b").await;
    assert_eq!(
        url,
        format!("{}/", world.url("b")),
        "B is still linked: {page}"
    );
    let (url, page) = world.open(&third, "c").await;
    assert!(
        url.starts_with(&format!("{}/login?r=", world.idp)),
        "C asks for a sign-in: {url}"
    );
    assert!(page.contains("data-notice=\"not-linked\""), "{page}");
    assert!(
        page.contains(&format!("{}/apply", world.url("c"))),
        "{page}"
    );
}

#[tokio::test]
async fn a_node_that_was_down_catches_up_and_concurrent_edits_converge() {
    let mut world = World::start().await;
    let client = browser(&world.federation);
    world.sign_in(&client, "a", "Anna Allikas").await;
    world.link_matching(&client, "a", "b", "Anna Allikas").await;
    world.link_matching(&client, "a", "c", "Anna Allikas").await;

    // B is down while the person changes her phone at C.
    world.federation.node_mut("b").unwrap().stop().await;
    world.open(&client, "c").await;
    world
        .edit_profile(&client, "c", None, Some("+372 5000 0001"), None)
        .await;
    world
        .eventually("a", ANNA, "C's change", |a| {
            a.phone.as_deref() == Some("+37250000001")
        })
        .await;
    let idp_db = &world.federation.idp.as_ref().unwrap().db;
    assert!(idp::store::outbox::pending_for(idp_db, "b").await.unwrap() > 0);
    world
        .federation
        .node_mut("b")
        .unwrap()
        .restart()
        .await
        .unwrap();
    world
        .eventually("b", ANNA, "the change made while B was down", |a| {
            a.phone.as_deref() == Some("+37250000001")
        })
        .await;

    // The same person edits at A and at B at once: the e-mail (both changed it) ends the same
    // everywhere, and neither the phone (A) nor the address (B) is lost.
    let other = browser(&world.federation);
    world.sign_in(&other, "b", "Anna Allikas").await;
    tokio::join!(
        world.edit_profile(
            &client,
            "a",
            Some("first@a.ee"),
            Some("+372 5000 0002"),
            None
        ),
        world.edit_profile(
            &other,
            "b",
            Some("second@b.ee"),
            None,
            Some("Riia 2, Tartu")
        ),
    );
    let settled = |a: &Account| {
        a.phone.as_deref() == Some("+37250000002") && a.address.as_deref() == Some("Riia 2, Tartu")
    };
    let mut emails = Vec::new();
    for node in ["a", "b", "c"] {
        let account = world.eventually(node, ANNA, "both edits", settled).await;
        emails.push(account.email.clone());
    }
    // Give late deliveries a moment, then all three must agree.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut finals = Vec::new();
    for node in ["a", "b", "c"] {
        finals.push(world.account(node, ANNA).await.email);
    }
    assert!(finals.iter().all(|e| e == &finals[0]), "{finals:?}");
    assert!(
        matches!(finals[0].as_deref(), Some("first@a.ee" | "second@b.ee")),
        "{finals:?}"
    );
}

#[tokio::test]
async fn accounts_whose_data_differ_are_not_linked_and_the_field_is_named() {
    let world = World::start().await;
    let cases = [
        ("Jaan Tamm", "personal_code", "isikukood"),
        ("Kati Kask", "last_name", "perekonnanimi"),
        ("Peeter Paju", "email", "e-post"),
    ];
    for (name, field, label) in cases {
        let client = browser(&world.federation);
        world.sign_in(&client, "a", name).await;
        let username = if name == "Kati Kask" {
            "Kati Kuusk"
        } else {
            name
        };
        let answer = world.link(&client, "a", "b", username).await;
        assert_eq!(answer.status(), StatusCode::CONFLICT, "{name}");
        let page = answer.text().await.unwrap();
        assert!(page.contains("Kontosid ei saa siduda"), "{page}");
        assert!(
            page.contains(&format!("<li data-field=\"{field}\">{label}</li>")),
            "{name}: {page}"
        );
        assert!(!page.contains("name=\"review\""), "{page}");
    }
    let idp_db = &world.federation.idp.as_ref().unwrap().db;
    let links: i64 = shared::with_pool!(idp_db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM links")
        .fetch_one(pool)
        .await
        .unwrap());
    assert_eq!(links, 0, "nothing was linked");
}

#[tokio::test]
async fn linking_two_linked_accounts_merges_the_persons_and_keeps_every_link() {
    let world = World::start().await;
    let client = browser(&world.federation);
    world.sign_in(&client, "a", "Mari Mets").await;
    world.link_matching(&client, "a", "b", "Mari Mets").await;
    // C–D is another person until B–C joins them.
    world.sign_in(&client, "c", "Mari Mets").await;
    world.link_matching(&client, "c", "d", "Mari Mets").await;
    world.open(&client, "b").await;
    world.link_matching(&client, "b", "c", "Mari Mets").await;

    let idp_db = &world.federation.idp.as_ref().unwrap().db;
    let (persons, links): (i64, i64) = shared::with_pool!(idp_db, pool => (
        sqlx::query_scalar("SELECT COUNT(*) FROM persons").fetch_one(pool).await.unwrap(),
        sqlx::query_scalar("SELECT COUNT(*) FROM links").fetch_one(pool).await.unwrap(),
    ));
    assert_eq!((persons, links), (1, 4));

    // Signed in at A alone, every one of the four opens.
    let fresh = browser(&world.federation);
    let home = world.sign_in(&fresh, "a", "Mari Mets").await;
    for node in ["b", "c", "d"] {
        assert!(
            home.contains(&format!("data-institution=\"{node}\"")),
            "{home}"
        );
        let (url, page) = world.open(&fresh, node).await;
        assert_eq!(url, format!("{}/", world.url(node)), "{page}");
        assert!(page.contains("Tere, Mari Mets!"), "{page}");
    }
    let _ = MARI;
}

#[tokio::test]
async fn a_stale_profile_form_does_not_undo_a_synced_change() {
    let world = World::start().await;
    let client = browser(&world.federation);
    world.sign_in(&client, "a", "Anna Allikas").await;
    let a = world.url("a");
    let page = client
        .get(format!("{a}/profile"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // While the form is open, the address arrives from a linked institution.
    let anna = world.account("a", ANNA).await;
    let mut synced = anna.data();
    synced.address = Some("Riia 2, Tartu".into());
    let db = &world.federation.node("a").unwrap().state.db;
    school_node::store::accounts::apply_synced(
        db,
        &anna.id,
        school_node::store::accounts::SyncedUpdate {
            data: &synced,
            version: i64::MAX / 2,
            language: None,
        },
        shared::audit::Event::new(
            shared::audit::kind::PROFILE_CHANGED,
            shared::audit::Actor::system(),
        ),
    )
    .await
    .unwrap();
    // She changes only her phone; the address field is submitted empty, as it was shown.
    let saved = client
        .post(format!("{a}/profile"))
        .form(&[
            ("csrf", hidden(&page, "csrf")),
            ("shown", hidden(&page, "shown")),
            ("shown_email", hidden(&page, "shown_email")),
            ("shown_phone", hidden(&page, "shown_phone")),
            ("shown_address", hidden(&page, "shown_address")),
            ("email", hidden(&page, "shown_email")),
            ("phone", "+372 5555 5555".into()),
            ("address", String::new()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.url().path(), "/profile");
    let after = world.account("a", ANNA).await;
    assert_eq!(after.phone.as_deref(), Some("+37255555555"));
    assert_eq!(after.address.as_deref(), Some("Riia 2, Tartu"));
}

/// Whether the nav bar at `base`, as this browser sees it, offers the institution `id`.
async fn nav_offers(client: &reqwest::Client, base: &str, id: &str) -> bool {
    let home = client
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    home.contains("class=\"institution\" href=")
        && home.contains(&format!("data-institution=\"{id}\""))
}

#[tokio::test]
async fn a_link_made_or_removed_reaches_the_nav_bar_of_her_sessions_at_every_node() {
    let world = World::start().await;
    let (a, b) = (world.url("a"), world.url("b"));
    // Anna's phone is signed in at B alone, before any link exists.
    let phone = browser(&world.federation);
    world.sign_in(&phone, "b", "Anna Allikas").await;
    assert!(!nav_offers(&phone, &b, "a").await);

    // At her laptop she links her account at A with the one at B.
    let laptop = browser(&world.federation);
    world.sign_in(&laptop, "a", "Anna Allikas").await;
    world.link_matching(&laptop, "a", "b", "Anna Allikas").await;
    testkit::eventually("B's nav bar offers A", Duration::from_secs(10), || async {
        if nav_offers(&phone, &b, "a").await {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    })
    .await;

    // She removes the link at A: the phone's page at B stops offering A.
    let removed = world.remove_link(&laptop, "a", "b").await;
    assert!(removed.contains("Seos on eemaldatud."), "{removed}");
    testkit::eventually(
        "B's nav bar no longer offers A",
        Duration::from_secs(10),
        || async {
            if nav_offers(&phone, &b, "a").await {
                Err("still offered".to_owned())
            } else {
                Ok(())
            }
        },
    )
    .await;
    assert!(!nav_offers(&laptop, &a, "b").await);
}

#[tokio::test]
async fn an_institution_is_found_by_part_of_its_name_without_javascript() {
    let world = World::start().await;
    let anna = browser(&world.federation);
    world.sign_in(&anna, "a", "Anna Allikas").await;
    let search = |q: &'static str| {
        let (anna, idp) = (anna.clone(), world.idp.clone());
        async move {
            anna.get(format!("{idp}/link"))
                .query(&[("from", "a"), ("q", q)])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    // The page has a search form of its own (GET, so it works without a script).
    let all = search("").await;
    assert!(
        all.contains("<form method=\"get\" action=\"/link\""),
        "{all}"
    );
    for id in ["b", "c", "d"] {
        assert!(all.contains(&format!("data-institution=\"{id}\"")), "{all}");
    }
    // Part of a name, in any case, finds that institution and no other.
    let found = search("GÜMNAAS").await;
    assert!(found.contains("data-institution=\"b\""), "{found}");
    assert!(!found.contains("data-institution=\"c\""), "{found}");
    let none = search("zzz").await;
    assert!(none.contains("Sellise nimega asutust ei leitud"), "{none}");
}

#[tokio::test]
async fn a_linked_school_that_cannot_answer_asks_for_a_sign_in_instead_of_failing() {
    let world = World::start().await;
    let anna = browser(&world.federation);
    world.sign_in(&anna, "a", "Anna Allikas").await;
    world.link_matching(&anna, "a", "b", "Anna Allikas").await;
    // Another browser, signed in at A alone: opening B is a jump through the link.
    let anna = browser(&world.federation);
    world.sign_in(&anna, "a", "Anna Allikas").await;
    // B's site answers, but it cannot say who its accounts are (its table is gone).
    let b = &world.federation.node("b").unwrap().state.db;
    shared::with_pool!(b, pool => {
        sqlx::query("ALTER TABLE accounts RENAME TO accounts_away")
            .execute(pool)
            .await
            .unwrap();
    });
    let (url, page) = world.open(&anna, "b").await;
    // No jump: the IdP asks her to sign in at B, as if there were no link, instead of failing.
    assert!(
        url.starts_with(&format!("{}/login", world.idp)),
        "{url}: {page}"
    );
    assert!(page.contains("Gümnaasium B"), "{page}");
}
