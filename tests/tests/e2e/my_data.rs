//! "Minu andmed" (issue 25): a person sees and steers their own federation at the IdP. Two
//! browsers with their own cookie jars: Anna is signed in at A in one and at B in the other;
//! an admin at A opens her account; her phone changes at C and syncs. Her page in browser A
//! lists both sessions, ends B's (B's school then asks for a sign-in), and its data tracker
//! and JSON download name the admin's view and the sync with institution and role.

use std::time::Duration;

use federation_tests::world::{ANNA, World};
use federation_tests::{browser, hidden};
use reqwest::StatusCode;

async fn text(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The value of attribute `data-sid` of the session article that is (or is not) current.
fn sid(page: &str, current: bool) -> String {
    page.split("<article class=\"session\"")
        .skip(1)
        .find(|part| part.split('>').next().unwrap().contains("data-current") == current)
        .and_then(|part| part.split("data-sid=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no session (current: {current}) in {page}"))
        .to_owned()
}

#[tokio::test]
async fn a_person_sees_her_sessions_and_who_used_her_data_and_ends_a_session_elsewhere() {
    let world = World::start().await;
    let (a, b, idp) = (world.url("a"), world.url("b"), world.idp.clone());
    let browser_a = browser(&world.federation);
    world.sign_in(&browser_a, "a", "Anna Allikas").await;
    world
        .link_matching(&browser_a, "a", "b", "Anna Allikas")
        .await;
    world
        .link_matching(&browser_a, "a", "c", "Anna Allikas")
        .await;
    let browser_b = browser(&world.federation);
    world.sign_in(&browser_b, "b", "Anna Allikas").await;

    // Dora, the administrator at A, opens Anna's account page.
    let dora = browser(&world.federation);
    world.sign_in(&dora, "a", "Dora Direktor").await;
    let anna_at_a = world.account("a", ANNA).await.id;
    let r = dora
        .get(format!("{a}/admin/accounts/{anna_at_a}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Her phone changes at C and reaches A and B.
    world
        .edit_profile(&browser_a, "c", None, Some("+372 5123 9876"), None)
        .await;
    testkit::eventually("the phone reached A", Duration::from_secs(20), || async {
        match world.account("a", ANNA).await.phone {
            Some(p) if p.as_str() == "+37251239876" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // Browser A: the nav bar leads to "Minu andmed"; it lists both sessions.
    let home = text(&browser_a, &format!("{a}/profile")).await;
    assert!(home.contains("data-my-data"), "{home}");
    let page = text(&browser_a, &format!("{idp}/me")).await;
    assert!(page.contains("<h1>Minu andmed</h1>"), "{page}");
    assert_eq!(
        page.matches("<article class=\"session\"").count(),
        2,
        "{page}"
    );
    assert!(
        page.contains("Gümnaasium B") && page.contains("Huvikool C"),
        "{page}"
    );
    let (own, other) = (sid(&page, true), sid(&page, false));
    assert_ne!(own, other);
    // The data tracker: the admin's view with role, the sync with the institution it came from.
    assert!(
        page.contains("Dora Direktor (administraator) vaatas sinu andmeid"),
        "{page}"
    );
    assert!(
        page.contains("Huvikool C (andmete ühtlustamine) muutis: phone"),
        "{page}"
    );
    assert!(page.contains("data-event=\"signin.password\""), "{page}");

    // The JSON download holds the same.
    let r = browser_a
        .get(format!("{idp}/me/data.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let data: serde_json::Value = r.json().await.unwrap();
    let tracker = data["data_tracker"].as_array().unwrap();
    assert!(tracker.iter().any(|e| e["kind"] == "data.viewed"
        && e["actor"]["name"] == "Dora Direktor"
        && e["actor"]["role"] == "admin"
        && e["institution_name"] == "Algkool A"));
    assert!(tracker.iter().any(|e| e["kind"] == "profile.changed"
        && e["actor"]["institution"] == "c"
        && e["actor"]["role"] == "sync"));
    assert_eq!(data["sessions"].as_array().unwrap().len(), 2);
    assert!(
        data["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["data"]["phone"] == "+37251239876")
    );
    let text_of_all = data.to_string();
    assert!(
        !text_of_all.contains("demo-parool"),
        "no password in the export"
    );

    // A form posted from another browser (with browser A's page in hand) ends nothing.
    let stranger = browser(&world.federation);
    let forged = stranger
        .post(format!("{idp}/me/sessions/end"))
        .form(&[("csrf", hidden(&page, "csrf")), ("sid", other.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        text(&browser_a, &format!("{idp}/me"))
            .await
            .contains(&other)
    );

    // "Lõpeta see seanss" on B's session: browser B is signed out at B within seconds.
    let ended = browser_a
        .post(format!("{idp}/me/sessions/end"))
        .form(&[("csrf", hidden(&page, "csrf")), ("sid", other.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::OK);
    let after = ended.text().await.unwrap();
    assert!(
        after.contains("data-done") && !after.contains(&other),
        "{after}"
    );
    testkit::eventually(
        "browser B is signed out at B",
        Duration::from_secs(10),
        || async {
            let r = browser_b.get(format!("{b}/profile")).send().await.unwrap();
            let lands = r.url().to_string();
            if lands.starts_with(&format!("{idp}/login")) {
                Ok(())
            } else {
                Err(lands)
            }
        },
    )
    .await;
    // Browser A goes on.
    let r = browser_a.get(format!("{a}/profile")).send().await.unwrap();
    assert_eq!(r.url().as_str(), format!("{a}/profile"));
}

#[tokio::test]
async fn without_a_session_the_page_says_how_to_get_there_and_shows_nothing() {
    let world = World::start().await;
    let stranger = browser(&world.federation);
    let r = stranger
        .get(format!("{}/me", world.idp))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let page = r.text().await.unwrap();
    assert!(page.contains("logi sisse mõne kooli lehel"), "{page}");
    let r = stranger
        .get(format!("{}/me/data.json", world.idp))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
