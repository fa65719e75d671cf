//! Global sign-out in a real browser (issue 6): headless Chromium, driven by playwright-core
//! from the npm registry, signs in at A, opens B and C through the nav bar, signs out at C, and
//! finds A and B signed out on reload — with both logout channels, front-channel only, and
//! back-channel only. Needs Node.js, `npm ci --prefix tests/interop` and Debian's chromium, so
//! it is `#[ignore]`d in the plain run; .ci/run installs them and runs it, failing if absent.

use federation::LogoutChannels;
use federation_tests::DEMO_PASSWORD;
use federation_tests::browser as http_browser;
use federation_tests::world::World;
use serde_json::Value;

async fn sign_out_in_chromium(channels: LogoutChannels) -> Value {
    let world = World::start_with(|o| o.logout_channels = channels).await;
    // Anna's accounts at A, B and C are linked first, so the nav bar shows B and C.
    let setup = http_browser(&world.federation);
    world.sign_in(&setup, "a", "Anna Allikas").await;
    world.link_matching(&setup, "a", "b", "Anna Allikas").await;
    world.link_matching(&setup, "a", "c", "Anna Allikas").await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/browser_logout.mjs");
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script)
        .env("IDP", &world.idp)
        .env("NODE_A", world.url("a"))
        .env("NODE_B", world.url("b"))
        .env("NODE_C", world.url("c"))
        .env("USERNAME", "Anna Allikas")
        .env("PASSWORD", DEMO_PASSWORD)
        .env("NAME", "Anna Allikas");
    federation_tests::run_node_script(&mut command).await
}

fn step<'a>(seen: &'a Value, what: &str) -> &'a Value {
    seen["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["what"] == what))
        .unwrap_or_else(|| panic!("no step {what:?} in {seen:#}"))
}

fn assert_signed_out_everywhere(seen: &Value) {
    assert!(seen.get("failure").is_none(), "{seen:#}");
    for what in [
        "signed in at A",
        "opened B from the nav bar",
        "opened C from the nav bar",
    ] {
        assert_eq!(step(seen, what)["greeted"], true, "{what}: {seen:#}");
    }
    for what in ["reloaded A", "reloaded B"] {
        assert_eq!(step(seen, what)["signedOut"], true, "{what}: {seen:#}");
    }
}

#[tokio::test]
#[ignore = "needs Node.js, playwright-core and Chromium (run by .ci/run)"]
async fn signing_out_at_c_signs_out_a_and_b_in_chromium() {
    let seen = sign_out_in_chromium(LogoutChannels::Both).await;
    assert_signed_out_everywhere(&seen);
    // The IdP's page loaded one front-channel frame per institution signed out.
    assert_eq!(step(&seen, "IdP logout page")["frames"], 3, "{seen:#}");
}

#[tokio::test]
#[ignore = "needs Node.js, playwright-core and Chromium (run by .ci/run)"]
async fn front_channel_alone_signs_out_every_node_in_chromium() {
    let seen = sign_out_in_chromium(LogoutChannels::FrontOnly).await;
    assert_signed_out_everywhere(&seen);
    assert_eq!(step(&seen, "IdP logout page")["frames"], 3, "{seen:#}");
}

#[tokio::test]
#[ignore = "needs Node.js, playwright-core and Chromium (run by .ci/run)"]
async fn back_channel_alone_signs_out_every_node_in_chromium() {
    let seen = sign_out_in_chromium(LogoutChannels::BackOnly).await;
    assert_signed_out_everywhere(&seen);
    assert_eq!(step(&seen, "IdP logout page")["frames"], 0, "{seen:#}");
}

/// "Minu andmed" with two browsers (issue 25): Anna at A in browser A and at B in browser B;
/// an admin at A has opened her account and her phone changed at C. Browser A's page lists both
/// sessions and the tracker names the admin and the sync; ending B's session there signs
/// browser B out at B.
#[tokio::test]
#[ignore = "needs Node.js, playwright-core and Chromium (run by .ci/run)"]
async fn my_data_ends_another_browsers_session_in_chromium() {
    let world = World::start().await;
    let setup = http_browser(&world.federation);
    world.sign_in(&setup, "a", "Anna Allikas").await;
    world.link_matching(&setup, "a", "b", "Anna Allikas").await;
    world.link_matching(&setup, "a", "c", "Anna Allikas").await;
    let dora = http_browser(&world.federation);
    world.sign_in(&dora, "a", "Dora Direktor").await;
    let anna = world.account("a", federation_tests::world::ANNA).await.id;
    let page = dora
        .get(format!("{}/admin/accounts/{anna}", world.url("a")))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_success());
    world
        .edit_profile(&setup, "c", None, Some("+372 5123 9876"), None)
        .await;
    // The setup's own session ends, so that the browsers' two are the person's only ones.
    let logout = setup
        .get(format!("{}/profile", world.url("a")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let signed_out = setup
        .post(format!("{}/logout", world.url("a")))
        .form(&[("csrf", federation_tests::hidden(&logout, "csrf"))])
        .send()
        .await
        .unwrap();
    assert!(signed_out.status().is_success());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/browser_my_data.mjs");
    let mut command = tokio::process::Command::new("node");
    command
        .arg(script)
        .env("IDP", &world.idp)
        .env("NODE_A", world.url("a"))
        .env("NODE_B", world.url("b"))
        .env("USERNAME", "Anna Allikas")
        .env("PASSWORD", DEMO_PASSWORD);
    let seen = federation_tests::run_node_script(&mut command).await;
    assert!(seen.get("failure").is_none(), "{seen:#}");
    let my_data = step(&seen, "my data");
    assert_eq!(my_data["title"], "Minu andmed", "{seen:#}");
    let sessions = my_data["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{seen:#}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let tracker = my_data["tracker"].as_str().unwrap();
    assert!(
        tracker.contains("Dora Direktor (administraator) vaatas sinu andmeid"),
        "{tracker}"
    );
    assert!(
        tracker.contains("Huvikool C (andmete ühtlustamine) muutis: phone"),
        "{tracker}"
    );
    assert_eq!(
        step(&seen, "ended the other session")["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{seen:#}"
    );
    assert_eq!(step(&seen, "browser B at B")["signedOut"], true, "{seen:#}");
    assert_eq!(
        step(&seen, "browser A at A")["url"],
        format!("{}/profile", world.url("a")),
        "{seen:#}"
    );
}
