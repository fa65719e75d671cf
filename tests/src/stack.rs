//! A small federation on 127.0.0.1 for protocol tests: one IdP, one school node (Jõgeva
//! Põhikool, with Mari Maasikas), and three extra relying parties — one per client
//! authentication method — that check passwords at that node. Independent clients (openid-client
//! in Node.js) reach everything by IP address.

use std::net::SocketAddr;

use axum::Json;
use axum::routing::get;
use school_node::service::accounts::{self, PersonalDataInput};
use school_node::service::passwords::Secret;
use school_node::store::accounts::Role;
use shared::jwt::{Alg, SigningKey};
use tokio::net::TcpListener;

pub const USERNAME: &str = "Mari Maasikas";
pub const MARI_CODE: &str = "49403136515";
pub const PASSWORD: &str = "maasikad-2024";
pub const SECRET: &str = "b7c1f5e0c2a84d3e9f6a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/cb";
pub const POST_LOGOUT_URI: &str = "http://127.0.0.1:9/bye";

pub struct Stack {
    pub idp_url: String,
    pub node_url: String,
    pub idp: idp::state::AppState,
    /// The IdP's database, for looking at what it stored.
    pub idp_db: idp::store::Database,
    pub node: school_node::state::AppState,
    pub rp_key: SigningKey,
    pub rp_key_pem: String,
    pub mari: String,
    idp_config: idp::Config,
    idp_task: tokio::task::JoinHandle<anyhow::Result<()>>,
    idp_stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// Serves the IdP until told to stop.
fn run_idp(
    app: idp::Application,
) -> (
    tokio::task::JoinHandle<anyhow::Result<()>>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    (task, stop)
}

async fn listener() -> TcpListener {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("a free port")
}

fn rp(client_id: &str, node_url: &str, jwks_uri: &str) -> idp::config::ClientConfig {
    idp::config::ClientConfig {
        client_id: client_id.into(),
        name: "Jõgeva Põhikool".into(),
        secret_hash: Some(idp::config::hash_secret(SECRET)),
        jwks_uri: Some(jwks_uri.into()),
        redirect_uris: vec![REDIRECT_URI.into()],
        post_logout_redirect_uris: vec![POST_LOGOUT_URI.into()],
        federation_url: Some(node_url.into()),
        federation_node: Some("jpk".into()),
        ..Default::default()
    }
}

impl Stack {
    pub async fn start(adjust: impl FnOnce(&mut idp::Config)) -> Stack {
        Self::start_with_node(adjust, |_| {}).await
    }

    /// As [`Stack::start`], adjusting the school node's configuration too.
    pub async fn start_with_node(
        adjust: impl FnOnce(&mut idp::Config),
        adjust_node: impl FnOnce(&mut school_node::Config),
    ) -> Stack {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn")
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let (idp_listener, node_listener, jwks_listener) =
            (listener().await, listener().await, listener().await);
        let idp_url = format!(
            "http://127.0.0.1:{}",
            idp_listener.local_addr().unwrap().port()
        );
        let node_url = format!(
            "http://127.0.0.1:{}",
            node_listener.local_addr().unwrap().port()
        );
        let jwks_url = format!(
            "http://127.0.0.1:{}/jwks.json",
            jwks_listener.local_addr().unwrap().port()
        );

        let mut node_config = school_node::Config {
            institution_id: "jpk".into(),
            institution_name: "Jõgeva Põhikool".into(),
            public_url: node_url.clone(),
            data_dir: dir.path().join("jpk"),
            ..Default::default()
        };
        node_config.database_url = fresh_database("sn_test").await;
        node_config.redis_url = std::env::var("TEST_REDIS_URL").ok();
        node_config.redis_prefix = Some(format!("test:{}:", unique()));
        node_config.sso = school_node::sso::SsoConfig {
            issuer: idp_url.clone(),
            client_id: "jpk".into(),
            client_secret: SECRET.into(),
            ..Default::default()
        };
        adjust_node(&mut node_config);
        let node = school_node::Application::build_on(node_config, node_listener)
            .await
            .unwrap();
        let node_state = node.state().clone();
        let input = PersonalDataInput {
            first_name: "Mari".into(),
            last_name: "Maasikas".into(),
            email: "mari@example.ee".into(),
            personal_code: MARI_CODE.into(),
            ..Default::default()
        };
        let mari = accounts::create(&node_state.db, &input, &[Role::Teacher], None)
            .await
            .unwrap();
        accounts::change_password(
            &node_state.db,
            &mari,
            &Secret::new(PASSWORD),
            &Secret::new(PASSWORD),
            None,
        )
        .await
        .unwrap();
        tokio::spawn(node.run());

        // The extra relying parties publish the node's key (its answers) and their own.
        let (rp_key, rp_key_pem) = SigningKey::generate(Alg::ES256).unwrap();
        let keys = serde_json::json!({ "keys": [
            serde_json::Value::Object(node_state.node_key.public_jwk().as_ref().clone()),
            serde_json::Value::Object(rp_key.public_jwk().as_ref().clone()),
        ]});
        let jwks_app = axum::Router::new().route(
            "/jwks.json",
            get(move || std::future::ready(Json(keys.clone()))),
        );
        tokio::spawn(async move { axum::serve(jwks_listener, jwks_app).await });

        let node_jwks = format!("{node_url}/federation/jwks.json");
        let mut jpk = rp("jpk", &node_url, &node_jwks);
        jpk.federation_node = None;
        jpk.redirect_uris = vec![format!("{node_url}/sso/callback")];
        jpk.post_logout_redirect_uris = vec![format!("{node_url}/logged-out")];
        jpk.backchannel_logout_uri = Some(format!("{node_url}/sso/backchannel-logout"));
        let mut rp_jwt = rp("rp-jwt", &node_url, &jwks_url);
        rp_jwt.secret_hash = None;
        rp_jwt.id_token_alg = Some(shared::jwt::Alg::RS256);
        let mut config = idp::Config {
            issuer: idp_url.clone(),
            data_dir: dir.path().join("idp"),
            clients: vec![
                jpk,
                rp("rp-basic", &node_url, &node_jwks),
                rp("rp-post", &node_url, &node_jwks),
                rp_jwt,
            ],
            ..Default::default()
        };
        config.database_url = fresh_database("idp_test").await;
        config.redis_url = std::env::var("TEST_REDIS_URL").ok();
        config.redis_prefix = Some(format!("idp-test:{}:", unique()));
        adjust(&mut config);
        let idp_app = idp::Application::build_on(config.clone(), idp_listener)
            .await
            .unwrap();
        let idp_state = idp_app.state().clone();
        let idp_db = idp_app.database().expect("a built IdP has its database");
        let (idp_task, idp_stop) = run_idp(idp_app);
        Stack {
            idp_url,
            node_url,
            idp: idp_state,
            idp_db,
            node: node_state,
            rp_key,
            rp_key_pem,
            mari,
            idp_config: config,
            idp_task,
            idp_stop: Some(idp_stop),
            _dir: dir,
        }
    }

    /// Stops the IdP and starts it again on the same address and database, as after a crash or
    /// an upgrade: what was in memory is gone, what was stored is not.
    pub async fn restart_idp(&mut self) {
        if let Some(stop) = self.idp_stop.take() {
            let _ = stop.send(());
            let _ = (&mut self.idp_task).await;
        }
        let port = self
            .idp_url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .expect("the IdP's port");
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .expect("the IdP's port is free again");
        let app = idp::Application::build_on(self.idp_config.clone(), listener)
            .await
            .unwrap();
        self.idp = app.state().clone();
        self.idp_db = app.database().expect("a built IdP has its database");
        let (task, stop) = run_idp(app);
        self.idp_task = task;
        self.idp_stop = Some(stop);
    }

    /// A browser for the IdP: cookies kept, redirects shown rather than followed.
    /// The IdP's database URL, when it is PostgreSQL or another URL rather than its own file.
    pub fn idp_config_database_url(&self) -> Option<String> {
        self.idp_config.database_url.clone()
    }

    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Exchanges a code of rp-basic (PKCE with `VERIFIER`, secret in the Basic header).
    pub async fn exchange(&self, code: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/token", self.idp_url))
            .basic_auth("rp-basic", Some(SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .expect("the IdP answers")
    }

    /// Signs Mari in for `client_id` and returns the code the IdP sent to the redirect URI.
    pub async fn code(
        &self,
        browser: &reqwest::Client,
        client_id: &str,
        challenge: &str,
    ) -> String {
        let authorize = format!(
            "{}/authorize?client_id={client_id}&redirect_uri={}&response_type=code&scope=openid%20profile%20email%20offline_access&state=s1&nonce=n1&code_challenge={challenge}&code_challenge_method=S256",
            self.idp_url,
            urlencode(REDIRECT_URI)
        );
        let r = browser.get(&authorize).send().await.unwrap();
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with("/login") {
            let page = browser
                .get(format!("{}{location}", self.idp_url))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let r =
                crate::submit_idp_login(browser, &self.idp_url, &page, USERNAME, PASSWORD).await;
            r.headers()["location"].to_str().unwrap().to_owned()
        } else {
            location
        };
        let url = reqwest::Url::parse(&location).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {location}"))
    }
}

pub use testkit::{fresh_database, unique, urlencode};

/// The PKCE pair of RFC 7636 appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
