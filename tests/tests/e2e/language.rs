//! A person's language across their linked schools (issue 28): kept by each account, not synced
//! as profile data, but carried to the linked schools when the person chooses it at one of
//! them; letters then come in it. Late and repeated messages do not undo a newer choice.

use std::time::Duration;

use federation_tests::world::{ANNA, World};
use federation_tests::{browser, hidden};
use reqwest::StatusCode;

async fn locale_at(world: &World, node: &str) -> Option<String> {
    let id = world.account(node, ANNA).await.id;
    school_node::store::accounts::locale(&world.federation.node(node).unwrap().state.db, &id)
        .await
        .unwrap()
}

async fn eventually_locale(world: &World, node: &str, want: Option<&str>) {
    let found = testkit::try_eventually(Duration::from_secs(10), || async {
        let now = locale_at(world, node).await;
        if now.as_deref() == want {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
    if let Err(last) = found {
        panic!(
            "the language at {node} is {last}, not {want:?}\n{}",
            world.sync_state().await
        );
    }
}

/// The letter in `node`'s mail folder to `to` whose text holds `containing`, decoded.
async fn letter(world: &World, node: &str, to: &str, containing: &str) -> String {
    let folder = world
        .federation
        .node(node)
        .unwrap()
        .state
        .config
        .data_dir
        .join("mail");
    let what = format!(
        "a letter to {to} with {containing:?} in {}",
        folder.display()
    );
    testkit::eventually(&what, Duration::from_secs(10), || async {
        for entry in std::fs::read_dir(&folder)
            .map_err(|e| e.to_string())?
            .flatten()
        {
            let data = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let mail = testkit::smtp::Received {
                from: String::new(),
                to: vec![to.to_owned()],
                data,
            };
            let text = mail.text();
            if mail.data.contains(to) && text.contains(containing) {
                return Ok(format!("{}\n{text}", mail.subject()));
            }
        }
        Err("not there yet".to_owned())
    })
    .await
}

#[tokio::test]
async fn a_language_chosen_at_one_linked_school_reaches_the_others_and_their_letters() {
    let world = World::start().await;
    let first = browser(&world.federation);
    world.sign_in(&first, "a", "Anna Allikas").await;
    let review = world.link(&first, "a", "b", "Anna Allikas").await;
    let review = review.text().await.unwrap();
    let done = world.confirm(&first, &review, &[("email", "b")]).await;
    assert!(done.contains("Kontod on seotud"), "{done}");
    world
        .eventually("a", ANNA, "the chosen e-mail", |a| {
            a.email.as_deref() == Some("anna@b.ee")
        })
        .await;

    // B's account has a language of its own (as from an application form in English). A change
    // of personal data at A is synced to B, the language is not: nobody chose one at a school.
    let b_id = world.account("b", ANNA).await.id;
    let b_db = &world.federation.node("b").unwrap().state.db;
    school_node::store::accounts::set_locale(b_db, &b_id, "en")
        .await
        .unwrap();
    world
        .edit_profile(&first, "a", None, Some("+372 5123 1111"), None)
        .await;
    world
        .eventually("b", ANNA, "A's new phone", |a| {
            a.phone.as_deref() == Some("+37251231111")
        })
        .await;
    assert_eq!(locale_at(&world, "b").await.as_deref(), Some("en"));
    assert_eq!(locale_at(&world, "a").await, None);

    // A second browser, signed in at A, switches to Russian there: B follows. C, where Anna has
    // an account that is linked to nothing, keeps what it had.
    let second = browser(&world.federation);
    world.sign_in(&second, "a", "Anna Allikas").await;
    let switched = second
        .get(format!("{}/lang/ru", world.url("a")))
        .header("referer", format!("{}/profile", world.url("a")))
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), StatusCode::OK);
    assert_eq!(switched.url().path(), "/profile");
    let page = switched.text().await.unwrap();
    assert!(page.contains("<html lang=\"ru\""), "{page}");
    assert_eq!(locale_at(&world, "a").await.as_deref(), Some("ru"));
    eventually_locale(&world, "b", Some("ru")).await;
    assert_eq!(locale_at(&world, "c").await, None);

    // A sign-in link asked for on B's Estonian page comes in Russian, the person's language.
    let stranger = browser(&world.federation);
    let form = stranger
        .get(format!("{}/forgot", world.url("b")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("<html lang=\"et\""), "{form}");
    let sent = stranger
        .post(format!("{}/forgot", world.url("b")))
        .form(&[
            ("csrf", hidden(&form, "csrf")),
            ("username", "anna@b.ee".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.url().path(), "/forgot/sent");
    let text = letter(&world, "b", "anna@b.ee", "По этой ссылке вы можете войти").await;
    assert!(text.contains("/reset/"), "{text}");

    // At B (opened through single sign-on) she chooses English: A follows.
    let (url, _) = world.open(&second, "b").await;
    assert_eq!(url, format!("{}/", world.url("b")));
    let switched = second
        .get(format!("{}/lang/en", world.url("b")))
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), StatusCode::OK);
    eventually_locale(&world, "a", Some("en")).await;
    assert_eq!(locale_at(&world, "b").await.as_deref(), Some("en"));

    // The IdP sends A the update that carried Russian once more, late: A keeps English.
    let idp = &world.federation.idp.as_ref().unwrap().db;
    let again = shared::with_pool!(idp, pool => sqlx::query(
        "UPDATE outbox SET delivered_at = NULL, next_attempt_at = 0, claimed_until = 0 \
         WHERE client_id = 'a' AND kind = 'profile' AND payload LIKE '%\"language\":\"ru\"%'",
    )
    .execute(pool)
    .await
    .unwrap()
    .rows_affected());
    assert!(again >= 1, "{}", world.sync_state().await);
    let resent = testkit::try_eventually(Duration::from_secs(15), || async {
        let waiting: i64 = shared::with_pool!(idp, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE client_id = 'a' AND delivered_at IS NULL AND gave_up_at IS NULL",
        )
        .fetch_one(pool)
        .await
        .unwrap());
        if waiting == 0 {
            Ok(())
        } else {
            Err(format!("{waiting} waiting"))
        }
    })
    .await;
    assert!(resent.is_ok(), "{}", world.sync_state().await);
    assert_eq!(locale_at(&world, "a").await.as_deref(), Some("en"));
    // The person sees in A's data tracker that B changed her language.
    let a_id = world.account("a", ANNA).await.id;
    let a_db = &world.federation.node("a").unwrap().state.db;
    let details: Vec<Option<String>> = shared::with_pool!(a_db, pool => sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE subject = $1 AND kind = 'profile.changed' ORDER BY at",
    )
    .bind(&a_id)
    .fetch_all(pool)
    .await
    .unwrap());
    assert!(
        details.iter().flatten().any(|d| d == "language"),
        "{details:?}"
    );
}
