//! Secrets stay secret: an IdP process logging at debug level through a whole sign-in (the
//! password checked at the node, the code exchanged with the client's secret, a refresh) never
//! writes a password, a client secret or an upstream's secret, read from a file, to its log.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

const CLIENT_SECRET: &str = "c0ffee-client-secret-4f6a2b9d1e8c7a5b3f2e1d0c9b8a7f6e5d4c3b2a1908";
const UPSTREAM_SECRET: &str = "upstream-secret-9a8b7c6d5e4f3a2b1c0d";
const PASSWORD: &str = "salajane-parool-2026";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[tokio::test]
async fn a_debug_log_of_a_whole_sign_in_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}");

    let (node_url, _) = crate::common::node_with_mari(
        &dir.path().join("jpk"),
        &issuer,
        CLIENT_SECRET,
        PASSWORD,
        |config| {
            assert!(
                !format!("{config:?}").contains(CLIENT_SECRET),
                "the node's Debug"
            )
        },
    )
    .await;

    std::fs::write(dir.path().join("upstream-secret"), UPSTREAM_SECRET).unwrap();
    std::fs::write(
        dir.path().join("clients.toml"),
        format!(
            "[[client]]\nclient_id = \"jpk\"\nname = \"Jõgeva Põhikool\"\nsecret_hash = \"{}\"\njwks_uri = \"{node_url}/federation/jwks.json\"\n\
             redirect_uris = [\"http://127.0.0.1:9/cb\"]\npost_logout_redirect_uris = []\nfederation_url = \"{node_url}\"\n",
            idp::config::hash_secret(CLIENT_SECRET)
        ),
    )
    .unwrap();
    let config_file = dir.path().join("idp.toml");
    std::fs::write(
        &config_file,
        format!(
            "issuer = \"{issuer}\"\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nclients_file = \"clients.toml\"\n\
             [[upstreams]]\nid = \"idcard\"\nlabel_et = \"ID-kaart\"\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"idp\"\n\
             client_secret_file = \"{}\"\namr = \"idcard\"\n",
            dir.path().join("idp").display(),
            dir.path().join("upstream-secret").display()
        ),
    )
    .unwrap();
    let log = dir.path().join("idp.log");
    let mut idp = Command::new(env!("CARGO_BIN_EXE_idp"))
        .arg("--config")
        .arg(&config_file)
        .arg("serve")
        .env("RUST_LOG", "debug")
        .env("IDP_LOG_JSON", "true")
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("idp.err")).unwrap(),
        ))
        .kill_on_drop(true)
        .spawn()
        .expect("the idp binary starts");
    testkit::eventually("the IdP is up", Duration::from_secs(20), || async {
        match reqwest::get(format!("{issuer}/health")).await {
            Ok(r) if r.status().is_success() => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // A whole sign-in: the sign-in page, the password, the code, the tokens, a refresh.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = format!(
        "{issuer}/authorize?client_id=jpk&redirect_uri={}&response_type=code&scope=openid%20offline_access&state=s&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256",
        testkit::urlencode("http://127.0.0.1:9/cb")
    );
    let page = testkit::sign_in_page(&browser, &issuer, &authorize).await;
    let done = testkit::submit_idp_login(&browser, &issuer, &page, "Mari Maasikas", PASSWORD).await;
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    let code = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let http = reqwest::Client::new();
    let tokens: serde_json::Value = http
        .post(format!("{issuer}/token"))
        .basic_auth("jpk", Some(CLIENT_SECRET))
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
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let refreshed = http
        .post(format!("{issuer}/token"))
        .basic_auth("jpk", Some(CLIENT_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap();
    assert!(refreshed.status().is_success());
    // A wrong client secret is logged as refused, not shown.
    let _ = http
        .post(format!("{issuer}/token"))
        .basic_auth("jpk", Some("wrong-secret-that-must-not-be-logged"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap();
    // SIGTERM, as a service manager stops it: the IdP finishes and exits 0.
    let pid = idp.id().expect("the IdP runs").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(20), idp.wait())
        .await
        .expect("the IdP stops within its grace period")
        .unwrap();
    assert!(status.success(), "exit status {status}");

    let written = std::fs::read_to_string(&log).unwrap()
        + &std::fs::read_to_string(dir.path().join("idp.err")).unwrap();
    assert!(
        written.contains("DEBUG"),
        "the log is at debug level:\n{written}"
    );
    for secret in [
        PASSWORD,
        CLIENT_SECRET,
        UPSTREAM_SECRET,
        refresh,
        code.as_str(),
        "wrong-secret-that-must-not-be-logged",
    ] {
        assert!(
            !written.contains(secret),
            "{secret} is in the log:\n{written}"
        );
    }
}
