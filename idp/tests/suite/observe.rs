//! One request followed across processes: the id a request comes with (or is given) is in the
//! IdP's answer and goes on to the school node in the federation call it makes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use idp::{Application, Config};
use tokio::net::TcpListener;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[tokio::test]
async fn the_request_id_goes_on_to_the_node() {
    // A node that only notes the request id of the password check it is asked.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let node = {
        let seen = seen.clone();
        axum::Router::new().route(
            shared::federation::path::PASSWORD_CHECK,
            axum::routing::post(move |headers: axum::http::HeaderMap| {
                let seen = seen.clone();
                async move {
                    if let Some(id) = headers.get("x-request-id") {
                        seen.lock().unwrap().push(id.to_str().unwrap().to_owned());
                    }
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                }
            }),
        )
    };
    let node_listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let node_url = format!("http://{}", node_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(node_listener, node).await });

    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        issuer: issuer.clone(),
        data_dir: dir.path().join("idp"),
        clients: vec![idp::config::ClientConfig {
            client_id: "kool".into(),
            name: "Kool".into(),
            secret_hash: Some(idp::config::hash_secret("s")),
            jwks_uri: Some(format!("{node_url}/jwks.json")),
            federation_url: Some(node_url.clone()),
            redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
            ..Default::default()
        }],
        ..Config::default()
    };
    let app = Application::build_on(config, listener).await.unwrap();
    tokio::spawn(app.run());

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = format!(
        "{issuer}/authorize?client_id=kool&redirect_uri={}&response_type=code&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S256",
        testkit::urlencode("http://127.0.0.1:9/cb")
    );
    let r = browser.get(&authorize).send().await.unwrap();
    assert_eq!(
        r.headers()["x-request-id"].to_str().unwrap().len(),
        12,
        "an id of its own"
    );
    let page = browser
        .get(format!(
            "{issuer}{}",
            r.headers()["location"].to_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("r", testkit::hidden(&page, "r")),
        ("csrf", testkit::hidden(&page, "csrf")),
        ("username", "mari".to_owned()),
        ("password", "salasona-1".to_owned()),
    ];
    let answer = browser
        .post(format!("{issuer}/login"))
        .header("x-request-id", "trace-4f2a9c1b")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-request-id"], "trace-4f2a9c1b");
    assert_eq!(
        *seen.lock().unwrap(),
        ["trace-4f2a9c1b"],
        "the node was told the same id"
    );
}

#[tokio::test]
async fn check_config_names_every_problem_without_starting() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("idp.toml");
    std::fs::write(
        &config,
        format!(
            "issuer = \"http://127.0.0.1:9\"\ndata_dir = \"{}\"\n\
             [[upstreams]]\nid = \"idcard\"\nlabel_et = \"ID-kaart\"\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"idp\"\namr = \"idcard\"\n",
            dir.path().join("idp").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(["--config", config.to_str().unwrap(), "check-config"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("ok       database: sqlite"), "{stdout}");
    assert!(
        stdout.contains("ok       ephemeral store: memory"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PROBLEM  upstream idcard: the upstream does not answer discovery"),
        "{stdout}"
    );
}
