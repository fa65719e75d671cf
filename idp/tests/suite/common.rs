//! What several IdP suites start: a real school node (in this process) with Mari's account,
//! registered with the IdP at `issuer` under `client_secret`.

use std::net::SocketAddr;

use school_node::service::accounts::{self, PersonalDataInput};
use school_node::service::passwords::Secret;
use school_node::store::accounts::Role;

/// Starts the node and returns its URL and Mari's account id; it runs until the test ends.
pub async fn node_with_mari(
    data_dir: &std::path::Path,
    issuer: &str,
    client_secret: &str,
    password: &str,
    check: impl FnOnce(&school_node::Config),
) -> (String, String) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let mut config = school_node::Config {
        institution_id: "jpk".into(),
        institution_name: "Jõgeva Põhikool".into(),
        public_url: url.clone(),
        data_dir: data_dir.to_path_buf(),
        ..Default::default()
    };
    config.sso = school_node::sso::SsoConfig {
        issuer: issuer.to_owned(),
        client_id: "jpk".into(),
        client_secret: client_secret.into(),
        ..Default::default()
    };
    check(&config);
    let node = school_node::Application::build_on(config, listener)
        .await
        .unwrap();
    let input = PersonalDataInput {
        first_name: "Mari".into(),
        last_name: "Maasikas".into(),
        ..Default::default()
    };
    let mari = accounts::create(&node.state().db, &input, &[Role::Teacher], None)
        .await
        .unwrap();
    let pw = Secret::new(password);
    accounts::change_password(&node.state().db, &mari, &pw, &pw, None)
        .await
        .unwrap();
    tokio::spawn(node.run());
    (url, mari)
}

/// An IdP database of its own: on the PostgreSQL server TEST_DATABASE_URL names, else a SQLite
/// file in the directory returned with it (which must live as long as the database).
pub async fn idp_database(prefix: &str) -> (idp::store::Database, tempfile::TempDir) {
    use idp::store::{Database, MIGRATIONS};
    let dir = tempfile::tempdir().unwrap();
    let db = match testkit::fresh_database(prefix).await {
        Some(url) => Database::connect(&url, &MIGRATIONS).await.unwrap(),
        None => Database::open_file(dir.path(), "idp.db", &MIGRATIONS)
            .await
            .unwrap(),
    };
    (db, dir)
}
