//! Graceful shutdown: asked to stop in the middle of a back-channel fan-out to a slow node, the
//! IdP lets the delivery under way finish (and records it), then stops; started again on the
//! same database, it does not send that logout a second time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use idp::oidc::acr::Acr;
use idp::service::random_token;
use idp::service::sessions::SignedInAccount;
use idp::{Application, Config};
use tokio::net::TcpListener;
use tokio::sync::Notify;

async fn listener() -> TcpListener {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

/// A session of account `sub` at client `client` is stored, then ends: its logout is queued.
async fn signed_out(app: &Application, client: &str, sub: &str) {
    let mut session = app.state().sessions.start();
    session.accounts.insert(
        client.into(),
        SignedInAccount {
            sub: sub.into(),
            claims: Default::default(),
            auth_time: 0,
            amr: vec!["pwd".into()],
            acr: Acr::Low,
            via_link: None,
        },
    );
    session.participants.insert(client.into());
    app.state()
        .sessions
        .save(&random_token(), &session)
        .await
        .unwrap();
    app.deliveries()
        .unwrap()
        .announce_logout(&session)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_delivery_under_way_finishes_and_is_not_sent_again_after_a_restart() {
    // A node whose back-channel endpoint takes its time, counting the logouts it got.
    let received = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(Notify::new());
    let node = {
        let (received, arrived) = (received.clone(), arrived.clone());
        axum::Router::new().route(
            "/bc",
            axum::routing::post(move || {
                let (received, arrived) = (received.clone(), arrived.clone());
                async move {
                    arrived.notify_one();
                    tokio::time::sleep(Duration::from_millis(800)).await;
                    received.fetch_add(1, Ordering::SeqCst);
                    "ok"
                }
            }),
        )
    };
    let node_listener = listener().await;
    let node_url = format!("http://{}", node_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(node_listener, node).await });

    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        issuer: "http://127.0.0.1:9".into(),
        data_dir: dir.path().join("idp"),
        database_url: testkit::fresh_database("idp_test_shutdown").await,
        delivery_poll_millis: 50,
        shutdown_grace_seconds: 5,
        clients: vec![idp::config::ClientConfig {
            client_id: "slow".into(),
            name: "Aeglane kool".into(),
            secret_hash: Some(idp::config::hash_secret("s")),
            redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
            backchannel_logout_uri: Some(format!("{node_url}/bc")),
            ..Default::default()
        }],
        ..Config::default()
    };
    let app = Application::build_on(config.clone(), listener().await)
        .await
        .unwrap();
    let db = app.database().unwrap();
    signed_out(&app, "slow", "account-1").await;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    // The logout is on its way to the node: now the IdP is asked to stop.
    tokio::time::timeout(Duration::from_secs(10), arrived.notified())
        .await
        .expect("the delivery began");
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert_eq!(
        received.load(Ordering::SeqCst),
        1,
        "the delivery under way finished"
    );
    assert_eq!(
        idp::store::outbox::pending_for(&db, "slow").await.unwrap(),
        0,
        "and was recorded as delivered"
    );

    // Started again on the same database: nothing is sent twice.
    let again = Application::build_on(config, listener().await)
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(again.run_until(async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert_eq!(received.load(Ordering::SeqCst), 1, "exactly once");
}

#[tokio::test]
async fn a_given_up_delivery_is_listed_and_can_be_retried_or_discarded() {
    // A node that refuses every logout token: each delivery is given up at once.
    let node = axum::Router::new().route(
        "/bc",
        axum::routing::post(|| async { axum::http::StatusCode::BAD_REQUEST }),
    );
    let node_listener = listener().await;
    let node_url = format!("http://{}", node_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(node_listener, node).await });
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        issuer: "http://127.0.0.1:9".into(),
        data_dir: dir.path().join("idp"),
        delivery_poll_millis: 50,
        clients: vec![idp::config::ClientConfig {
            client_id: "refusing".into(),
            name: "Keelduv kool".into(),
            secret_hash: Some(idp::config::hash_secret("s")),
            redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
            backchannel_logout_uri: Some(format!("{node_url}/bc")),
            ..Default::default()
        }],
        ..Config::default()
    };
    let app = Application::build_on(config.clone(), listener().await)
        .await
        .unwrap();
    let db = app.database().unwrap();
    for sub in ["a-1", "a-2"] {
        signed_out(&app, "refusing", sub).await;
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    testkit::eventually("both given up", Duration::from_secs(10), || async {
        match idp::store::outbox::dead_letters(&db).await.unwrap().len() {
            2 => Ok(()),
            n => Err(format!("{n}")),
        }
    })
    .await;
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();

    let idp = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
            .args(args)
            .env("IDP_DATA_DIR", dir.path().join("idp"))
            .env("IDP_ISSUER", "http://127.0.0.1:9")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let listed = idp(&["outbox"]);
    let listing = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(listed.status.success(), "{listing}");
    let ids: Vec<&str> = listing
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{listing}");
    assert!(listing.contains("refused with 400"), "{listing}");
    assert!(idp(&["outbox", "--retry", ids[0]]).status.success());
    assert!(idp(&["outbox", "--discard", ids[1]]).status.success());
    assert!(
        !idp(&["outbox", "--discard", ids[1]]).status.success(),
        "gone already"
    );
    assert_eq!(
        idp::store::outbox::dead_letters(&db).await.unwrap().len(),
        0
    );
    assert_eq!(
        idp::store::outbox::pending_for(&db, "refusing")
            .await
            .unwrap(),
        1,
        "the retried one waits"
    );
}
