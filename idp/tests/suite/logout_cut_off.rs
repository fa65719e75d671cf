//! Ending a person's IdP sessions from a node's request (a new password, "sign out everywhere")
//! when the request is cut off midway — the node gone, its connection closed — at any await:
//! the node sends it again, and that second request still ends every session and queues its
//! logouts; none is ended unannounced. On Redis when TEST_REDIS_URL names one (in memory the
//! ending never waits, so nothing can cut it off).

use std::net::SocketAddr;

use idp::config::ClientConfig;
use idp::oidc::acr::Acr;
use idp::service::sessions::SignedInAccount;
use idp::{Application, Config};
use shared::jwt::Claims;
use shared::{AccountId, ClientId};

#[tokio::test]
async fn ending_sessions_cut_off_midway_is_finished_by_the_request_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        issuer: "http://127.0.0.1:9".into(),
        data_dir: dir.path().to_path_buf(),
        database_url: testkit::fresh_database("idp_test_cut").await,
        redis_url: std::env::var("TEST_REDIS_URL").ok(),
        redis_prefix: Some(format!("test:{}:", testkit::unique())),
        clients: vec![ClientConfig {
            client_id: "jpk".into(),
            name: "Jõgeva Põhikool".into(),
            redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
            backchannel_logout_uri: Some("http://127.0.0.1:9/bcl".into()),
            jwks_uri: Some("http://127.0.0.1:9/jwks".into()),
            ..ClientConfig::default()
        }],
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    // Built, not run: no worker takes the queued logouts away while they are counted.
    let app = Application::build_on(config, listener).await.unwrap();
    let (state, db) = (app.state(), app.database().unwrap());
    let jpk = ClientId::from("jpk");
    let mut cut_off = 0;
    for turns in 0..150 {
        let sub = AccountId::from(format!("mari{turns}").as_str());
        let cookie = format!("cookie-cut-{turns}");
        let mut session = state.sessions.start();
        session.accounts.insert(
            jpk.clone(),
            SignedInAccount {
                sub: sub.clone(),
                claims: Claims::new(),
                auth_time: 0,
                amr: vec!["pwd".into()],
                acr: Acr::Low,
                via_link: None,
            },
        );
        session.participants.insert(jpk.clone());
        state.sessions.save(&cookie, &session).await.unwrap();
        let first = state.logout.password_changed(&jpk, &sub, None, i64::MAX);
        if !testkit::cut_off_after(turns, first).await {
            cut_off += 1;
        }
        state
            .logout
            .password_changed(&jpk, &sub, None, i64::MAX)
            .await
            .unwrap();
        assert!(
            state.sessions.load(&cookie).await.unwrap().is_none(),
            "the session outlived a request cut off after {turns} turns and the one sent again"
        );
        let queued: i64 = shared::with_pool!(&db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'logout' AND sid = $1",
        )
        .bind(session.sid.as_str())
        .fetch_one(pool)
        .await
        .unwrap());
        assert!(
            queued >= 1,
            "the session ended unannounced after a cut off after {turns} turns"
        );
    }
    if std::env::var_os("TEST_REDIS_URL").is_some() {
        assert!(
            cut_off > 0,
            "no ending was cut off: the sweep tested nothing"
        );
    }
}
