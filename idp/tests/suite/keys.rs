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
        let counts: Vec<(String, i64)> = shared::with_db!(&db, pool => sqlx::query_as(
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
