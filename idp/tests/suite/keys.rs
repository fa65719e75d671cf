//! Signing keys made once: two IdP processes starting together on an empty database (PostgreSQL
//! when TEST_DATABASE_URL names one) make one current key per algorithm, and both publish it.

use std::net::SocketAddr;

use idp::{Application, Config};
use tokio::net::TcpListener;

async fn listener() -> TcpListener {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

#[tokio::test]
async fn two_idps_starting_together_make_one_key_per_algorithm() {
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            issuer: "http://127.0.0.1:9".into(),
            data_dir: dir.path().to_path_buf(),
            database_url: testkit::fresh_database("idp_test_keys").await,
            ..Config::default()
        };
        let (a, b) = tokio::join!(
            async { Application::build_on(config.clone(), listener().await).await },
            async { Application::build_on(config.clone(), listener().await).await },
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let db = a.database().unwrap();
        let counts: Vec<(String, i64)> = shared::with_pool!(&db, pool => sqlx::query_as(
            "SELECT alg, CAST(COUNT(*) AS BIGINT) FROM signing_keys WHERE retired_at IS NULL GROUP BY alg ORDER BY alg",
        )
        .fetch_all(pool)
        .await
        .unwrap());
        assert_eq!(
            counts,
            [("ES256".to_owned(), 1), ("RS256".to_owned(), 1)],
            "one current key per algorithm"
        );
        assert_eq!(
            a.state().keys.jwks(),
            b.state().keys.jwks(),
            "both publish the same keys"
        );
    }
}

async fn stored_keys(db: &idp::store::Database) -> Vec<String> {
    shared::with_pool!(db, pool => sqlx::query_scalar("SELECT private_pem FROM signing_keys ORDER BY kid")
        .fetch_all(pool)
        .await
        .unwrap())
}

#[tokio::test]
async fn private_keys_are_sealed_at_rest_and_resealed_when_the_kek_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("kek-old"), dir.path().join("kek-new"));
    std::fs::write(&old, "11".repeat(32)).unwrap();
    std::fs::write(&new, "22".repeat(32)).unwrap();
    let base = Config {
        issuer: "http://127.0.0.1:9".into(),
        data_dir: dir.path().join("idp"),
        database_url: testkit::fresh_database("idp_test_kek").await,
        ..Config::default()
    };
    // Made before any KEK: stored plain, then sealed once a KEK is configured.
    let plain = Application::build_on(base.clone(), listener().await)
        .await
        .unwrap();
    let jwks = plain.state().keys.jwks();
    let db = plain.database().unwrap();
    assert!(
        stored_keys(&db)
            .await
            .iter()
            .all(|k| k.contains("PRIVATE KEY"))
    );
    drop(plain);

    let sealed_config = Config {
        key_encryption_key_file: Some(old.clone()),
        ..base.clone()
    };
    let sealed = Application::build_on(sealed_config, listener().await)
        .await
        .unwrap();
    assert_eq!(sealed.state().keys.jwks(), jwks, "the same keys");
    let first = stored_keys(&db).await;
    assert!(
        first
            .iter()
            .all(|k| !k.contains("PRIVATE KEY") && !k.contains("BEGIN"))
    );
    drop(sealed);

    // Without the KEK the keys cannot be read: a clear error, not a new key.
    let e = Application::build_on(base.clone(), listener().await)
        .await
        .err()
        .expect("no KEK, no start");
    assert!(format!("{e:#}").contains("key-encryption key"), "{e:#}");

    // Rotation: the new KEK, the old one as previous; every key is sealed anew.
    let rotating = Config {
        key_encryption_key_file: Some(new.clone()),
        previous_key_encryption_key_file: Some(old),
        ..base.clone()
    };
    let app = Application::build_on(rotating, listener().await)
        .await
        .unwrap();
    assert_eq!(app.state().keys.jwks(), jwks);
    drop(app);
    let second = stored_keys(&db).await;
    assert!(
        first.iter().zip(&second).all(|(a, b)| a != b),
        "sealed anew"
    );
    let only_new = Config {
        key_encryption_key_file: Some(new),
        ..base
    };
    let app = Application::build_on(only_new, listener().await)
        .await
        .unwrap();
    assert_eq!(
        app.state().keys.jwks(),
        jwks,
        "the old KEK is no longer needed"
    );
}
