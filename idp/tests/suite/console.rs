//! The console's institutions beside the configuration's, across instances: a client id in
//! both stops the IdP at start with the id named, and what one instance's console changes
//! reaches another instance (on the same database) within `reload_seconds`.

use std::net::SocketAddr;
use std::time::Duration;

use idp::config::ClientConfig;
use idp::oidc::acr::Acr;
use idp::service::console::{ConsoleSession, Role};
use idp::service::institutions::InstitutionInput;
use idp::{Application, Config};
use tokio::net::TcpListener;

async fn listener() -> TcpListener {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

fn operator() -> ConsoleSession {
    ConsoleSession {
        personal_code: "39207070221".into(),
        name: "Tõnu Tundmatu".into(),
        role: Role::Operator,
        acr: Acr::High,
        method: "idcard".into(),
        browser: "test".into(),
        created_at: 0,
    }
}

fn school(id: &str) -> InstitutionInput {
    InstitutionInput {
        client_id: id.into(),
        name: format!("Kool {id}"),
        redirect_uris: vec![format!("https://{id}.example.ee/sso/callback")],
        ..InstitutionInput::default()
    }
}

#[tokio::test]
async fn console_institutions_reach_every_instance_and_never_clash_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        issuer: "http://127.0.0.1:9".into(),
        data_dir: dir.path().to_path_buf(),
        database_url: testkit::fresh_database("idp_test_console").await,
        reload_seconds: 1,
        ..Config::default()
    };
    let a = Application::build_on(config.clone(), listener().await)
        .await
        .unwrap();
    let b = Application::build_on(config.clone(), listener().await)
        .await
        .unwrap();
    let (state_a, state_b) = (a.state().clone(), b.state().clone());
    tokio::spawn(a.run());
    tokio::spawn(b.run());

    let secret = state_a
        .institutions
        .add(school("uus"), &operator(), "test")
        .await
        .unwrap();
    assert_eq!(secret.len(), 64);
    assert!(
        state_a.clients.get("uus").is_some(),
        "at once where it was added"
    );
    let within = Duration::from_secs(4);
    testkit::eventually("the other instance knows it", within, || async {
        state_b
            .clients
            .get("uus")
            .map(|_| ())
            .ok_or("not yet".to_owned())
    })
    .await;
    state_a
        .institutions
        .disable("uus", &operator())
        .await
        .unwrap();
    testkit::eventually("the other instance refuses it", within, || async {
        match state_b.clients.get("uus") {
            None => Ok(()),
            Some(_) => Err("still enabled".to_owned()),
        }
    })
    .await;

    // The same id in the configuration: the next start names it and does not start.
    let clashing = Config {
        clients: vec![ClientConfig {
            client_id: "uus".into(),
            name: "Uus".into(),
            secret_hash: Some(idp::config::hash_secret("x")),
            redirect_uris: vec!["https://uus.example.ee/cb".into()],
            ..ClientConfig::default()
        }],
        ..config
    };
    let refused = Application::build_on(clashing, listener().await)
        .await
        .err()
        .expect("a client id in both stops the start");
    let message = format!("{refused:#}");
    assert!(
        message.contains("uus") && message.contains("console"),
        "{message}"
    );
}
