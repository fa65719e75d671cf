//! Two IdP processes sharing one PostgreSQL database and one Redis behave as one IdP: a code
//! issued by one is redeemed at the other, and a session made at one is seen at the other.
//! Needs TEST_DATABASE_URL and TEST_REDIS_URL, so it is `#[ignore]`d in the plain test run;
//! .ci/run runs it with `--include-ignored`, and then it fails when either is missing.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

const SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

use testkit::free_port;

fn spawn_idp(
    port: u16,
    issuer: &str,
    db: &str,
    redis: &str,
    prefix: &str,
    clients: &std::path::Path,
    data: &std::path::Path,
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_idp"))
        .arg("serve")
        .env("IDP_ISSUER", issuer)
        .env("IDP_LISTEN", format!("127.0.0.1:{port}"))
        .env("IDP_DATABASE_URL", db)
        .env("IDP_REDIS_URL", redis)
        .env("IDP_REDIS_PREFIX", prefix)
        .env("IDP_CLIENTS_FILE", clients)
        .env("IDP_DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the idp binary starts")
}

async fn wait_until_up(port: u16) {
    for _ in 0..200 {
        if reqwest::get(format!("http://127.0.0.1:{port}/health"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the IdP on port {port} did not come up");
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: TEST_DATABASE_URL and TEST_REDIS_URL (run by .ci/run)"]
async fn two_processes_share_codes_and_sessions() {
    std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL names a PostgreSQL server");
    let redis = std::env::var("TEST_REDIS_URL").expect("TEST_REDIS_URL names a Redis server");
    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{port_a}");

    // A school node that checks the passwords.
    let (node_url, mari) = crate::common::node_with_mari(
        &dir.path().join("jpk"),
        &issuer,
        SECRET,
        "maasikad-2024",
        |_| {},
    )
    .await;

    let clients = dir.path().join("clients.toml");
    std::fs::write(
        &clients,
        format!(
            "[[client]]\nclient_id = \"jpk\"\nname = \"Jõgeva Põhikool\"\nsecret_hash = \"{}\"\njwks_uri = \"{node_url}/federation/jwks.json\"\n\
             redirect_uris = [\"http://127.0.0.1:9/cb\"]\npost_logout_redirect_uris = []\nfederation_url = \"{node_url}\"\n",
            idp::config::hash_secret(SECRET)
        ),
    )
    .unwrap();
    let db = testkit::fresh_database("idp_test")
        .await
        .expect("TEST_DATABASE_URL names a PostgreSQL server");
    let prefix = format!("idp-test-{}:", uuid::Uuid::new_v4().simple());
    let _a = spawn_idp(
        port_a,
        &issuer,
        &db,
        &redis,
        &prefix,
        &clients,
        &dir.path().join("a"),
    );
    wait_until_up(port_a).await;
    let _b = spawn_idp(
        port_b,
        &issuer,
        &db,
        &redis,
        &prefix,
        &clients,
        &dir.path().join("b"),
    );
    wait_until_up(port_b).await;

    // Sign in at A.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = |port: u16, extra: &str| {
        format!(
            "http://127.0.0.1:{port}/authorize?client_id=jpk&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&response_type=code&scope=openid&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}"
        )
    };
    let r = browser.get(authorize(port_a, "")).send().await.unwrap();
    let login = r.headers()["location"].to_str().unwrap().to_owned();
    let page = browser
        .get(format!("http://127.0.0.1:{port_a}{login}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page.find(&marker).unwrap() + marker.len();
        page[start..].split('"').next().unwrap().to_owned()
    };
    let form = [
        ("r", field("r")),
        ("csrf", field("csrf")),
        ("username", "mari maasikas".into()),
        ("password", "maasikad-2024".into()),
    ];
    let r = browser
        .post(format!("http://127.0.0.1:{port_a}/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let callback = reqwest::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();

    // The code issued by A is redeemed at B.
    let tokens: serde_json::Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port_b}/token"))
        .basic_auth("jpk", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tokens["id_token"].is_string(), "{tokens}");
    let userinfo: serde_json::Value = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port_a}/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], mari.as_str());

    // The session made at A is seen at B: prompt=none gets a code there (cookies are per host,
    // not per port, so the same browser sends A's cookie to B).
    let r = browser
        .get(authorize(port_b, "&prompt=none"))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.contains("code=") && !location.contains("error="),
        "{location}"
    );
}
