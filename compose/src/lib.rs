//! The local demo federation: every institution of `demo.toml` as a school node on its own
//! `*.localhost` host name, on embedded defaults (SQLite files, in-memory state), seeded with the
//! demo accounts on first start.

use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Format, Toml};
use idp::config::ClientConfig;
use idp::service::upstream::{ClaimProfile, UpstreamConfig};
use school_node::service::accounts::{self, PersonalDataInput};
use school_node::service::passwords::Secret;
use school_node::sso::SsoConfig;
use school_node::store::accounts::Role;
use school_node::{Application, Config};
use serde::Deserialize;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub mod broker;

pub const DEMO: &str = include_str!("../demo.toml");
pub const DEMO_PASSWORD: &str = "demo-parool";

#[derive(Debug, Deserialize)]
pub struct Demo {
    pub idp: Option<IdpPlace>,
    /// Where the test eID broker runs (ID-kaart and Smart-ID in the demo).
    pub eid: Option<IdpPlace>,
    pub institution: Vec<Institution>,
    /// Who may open the IdP's operators' console (signing in with the test broker).
    #[serde(default)]
    pub operator: Vec<idp::service::console::OperatorConfig>,
}

/// Where the demo's IdP runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpPlace {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Institution {
    pub id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub account: Vec<DemoAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoAccount {
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub personal_code: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub address: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub children: Vec<String>,
    /// A temporary password to be changed at first sign-in, instead of the demo password.
    pub temporary: Option<String>,
    /// No password at all: such a person gets one from a parent or by e-mail.
    #[serde(default)]
    pub no_password: bool,
}

impl Demo {
    pub fn parse(text: &str) -> anyhow::Result<Demo> {
        Figment::from(Toml::string(text))
            .extract()
            .context("the demo file is not valid")
    }

    pub fn load(path: Option<&Path>) -> anyhow::Result<Demo> {
        match path {
            Some(p) => Self::parse(
                &std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?,
            ),
            None => Self::parse(DEMO),
        }
    }
}

#[derive(Default)]
pub struct Options {
    pub data_dir: PathBuf,
    /// Listen on the ports of the demo file (true) or on free ports (tests).
    pub fixed_ports: bool,
    /// Start the IdP and wire the nodes to it (when the demo names one).
    pub with_idp: bool,
    /// Database URL by service (`idp` or an institution id); SQLite in `data_dir` otherwise.
    pub database_urls: std::collections::HashMap<String, String>,
    /// Redis for every service's ephemeral state (each under its own prefix); memory otherwise.
    pub redis_url: Option<String>,
    /// Redis behind these sentinels instead of `redis_url` (the master named `redis_master_name`).
    pub redis_sentinels: Vec<String>,
    pub redis_master_name: Option<String>,
    /// Retry failed deliveries within a second or two instead of minutes (tests).
    pub quick_retries: bool,
    /// IdP sessions end after this many idle seconds, swept every second (tests).
    pub idp_session_idle_seconds: Option<i64>,
    /// Which logout channels the nodes register at the IdP.
    pub logout_channels: LogoutChannels,
    /// Serve the IdP's Prometheus metrics here (tests that read them as an operator does).
    pub idp_metrics_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogoutChannels {
    #[default]
    Both,
    FrontOnly,
    BackOnly,
}

pub struct RunningIdp {
    pub host: String,
    pub port: u16,
    pub task: JoinHandle<anyhow::Result<()>>,
    pub state: idp::state::AppState,
    /// The IdP's database, for looking at what it stored.
    pub db: idp::store::Database,
    config: idp::Config,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningIdp {
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    async fn serve(config: idp::Config, listener: tokio::net::TcpListener) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let app = idp::Application::build_on(config.clone(), listener)
            .await
            .context("cannot start the IdP")?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        Ok(RunningIdp {
            host: "127.0.0.1".into(),
            port,
            state: app.state().clone(),
            db: app.database().context("a built IdP has its database")?,
            task: tokio::spawn(app.run_until(async move {
                let _ = stopped.await;
            })),
            config,
            stop: Some(stop),
        })
    }

    /// Stops the IdP as SIGTERM does (its workers finish what they hold); it no longer answers.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await?
    }

    /// Starts the IdP again on the same port, database and settings.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind((self.config.listen.ip(), self.port)).await?;
        let host = self.host.clone();
        *self = Self::serve(self.config.clone(), listener).await?;
        self.host = host;
        Ok(())
    }
}

pub struct RunningNode {
    pub id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub task: JoinHandle<anyhow::Result<()>>,
    pub state: school_node::state::AppState,
    config: Config,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Serves a node until told to stop.
fn run_node(
    app: Application,
) -> (
    JoinHandle<anyhow::Result<()>>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    (task, stop)
}

impl RunningNode {
    /// Stops the node as an operator would: it finishes requests under way and stops listening.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
            let _ = (&mut self.task).await;
        }
    }

    /// Starts a stopped node again on the same address and storage.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        let listener = bind(self.port).await?;
        let app = Application::build_on(self.config.clone(), listener).await?;
        self.state = app.state().clone();
        let (task, stop) = run_node(app);
        self.task = task;
        self.shutdown = Some(stop);
        Ok(())
    }
}

impl RunningNode {
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

/// The test eID broker, as the IdP's upstream for "ID-kaart" and "Smart-ID".
pub struct RunningBroker {
    pub host: String,
    pub port: u16,
    pub broker: broker::Broker,
}

impl RunningBroker {
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

pub struct Federation {
    pub idp: Option<RunningIdp>,
    pub broker: Option<RunningBroker>,
    pub nodes: Vec<RunningNode>,
}

impl Federation {
    pub fn node(&self, id: &str) -> Option<&RunningNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn node_mut(&mut self, id: &str) -> Option<&mut RunningNode> {
        self.nodes.iter_mut().find(|n| n.id == id)
    }
}

async fn bind(port: u16) -> anyhow::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .with_context(|| format!("cannot listen on port {port}"))
}

fn random_secret() -> String {
    use rand::RngExt;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts the IdP and every institution of the demo, and seeds accounts when a database is new.
/// Every listener is bound first, so each service knows the others' addresses.
pub async fn start(demo: &Demo, options: &Options) -> anyhow::Result<Federation> {
    let port = |fixed: u16| if options.fixed_ports { fixed } else { 0 };
    let idp_place = demo.idp.as_ref().filter(|_| options.with_idp);
    let idp_listener = match idp_place {
        Some(place) => Some(bind(port(place.port)).await?),
        None => None,
    };
    let issuer = match (idp_place, &idp_listener) {
        (Some(place), Some(l)) => Some(format!("http://{}:{}", place.host, l.local_addr()?.port())),
        _ => None,
    };
    let eid_place = demo.eid.as_ref().filter(|_| idp_place.is_some());
    let broker = match eid_place {
        Some(place) => {
            let listener = bind(port(place.port)).await?;
            let port = listener.local_addr()?.port();
            let url = format!("http://{}:{port}", place.host);
            let broker = broker::Broker::new(&url, "idp", &random_secret())?;
            let app = broker.router();
            tokio::spawn(async move { axum::serve(listener, app).await });
            Some(RunningBroker {
                host: place.host.clone(),
                port,
                broker,
            })
        }
        None => None,
    };
    let mut clients = Vec::new();
    let mut nodes = Vec::new();
    for institution in &demo.institution {
        let listener = bind(port(institution.port)).await?;
        let actual = listener.local_addr()?.port();
        let site = format!("http://{}:{actual}", institution.host);
        let mut config = Config {
            institution_id: institution.id.clone(),
            institution_name: institution.name.clone(),
            listen: ([127, 0, 0, 1], actual).into(),
            public_url: site.clone(),
            data_dir: options.data_dir.join(&institution.id),
            ..Config::default()
        };
        config.mail.from = format!("robot@{}", institution.host);
        if let Some(svg) = demo_logo(&institution.id) {
            std::fs::create_dir_all(&config.data_dir)?;
            let file = config.data_dir.join("logo.svg");
            std::fs::write(&file, svg)?;
            config.logo_file = Some(file);
        }
        config.database_url = options.database_urls.get(&institution.id).cloned();
        config.redis_url = options.redis_url.clone();
        config.redis_sentinels = options.redis_sentinels.clone();
        config.redis_master_name = options.redis_master_name.clone();
        config.redis_prefix = Some(format!("{}:{}:", institution.id, random_secret()));
        if let Some(issuer) = &issuer {
            let secret = random_secret();
            config.sso = SsoConfig {
                issuer: issuer.clone(),
                client_id: institution.id.clone(),
                client_secret: secret.as_str().into(),
                ..SsoConfig::default()
            };
            if options.quick_retries {
                config.sso.sync_retry_base_millis = 100;
                config.sso.sync_retry_max_millis = 500;
                config.sso.sync_poll_millis = 100;
            }
            clients.push(ClientConfig {
                client_id: institution.id.clone(),
                name: institution.name.clone(),
                secret_hash: Some(idp::config::hash_secret(&secret)),
                jwks_uri: Some(format!("{site}{}", shared::federation::path::JWKS)),
                redirect_uris: vec![format!("{site}/sso/callback")],
                post_logout_redirect_uris: vec![format!("{site}/logged-out")],
                backchannel_logout_uri: (options.logout_channels != LogoutChannels::FrontOnly)
                    .then(|| format!("{site}/sso/backchannel-logout")),
                frontchannel_logout_uri: (options.logout_channels != LogoutChannels::BackOnly)
                    .then(|| format!("{site}/sso/frontchannel-logout")),
                federation_url: Some(site.clone()),
                logo_url: config.logo_file.as_ref().map(|_| format!("{site}/logo")),
                ..ClientConfig::default()
            });
        }
        let app = Application::build_on(config.clone(), listener)
            .await
            .with_context(|| format!("cannot start {}", institution.name))?;
        seed(app.state(), institution)
            .await
            .with_context(|| format!("cannot seed {}", institution.name))?;
        let state = app.state().clone();
        let (task, stop) = run_node(app);
        nodes.push(RunningNode {
            id: institution.id.clone(),
            name: institution.name.clone(),
            host: institution.host.clone(),
            port: actual,
            task,
            state,
            config,
            shutdown: Some(stop),
        });
    }
    let idp = match (idp_place, idp_listener, issuer) {
        (Some(place), Some(listener), Some(issuer)) => {
            let port = listener.local_addr()?.port();
            let mut config = idp::Config {
                issuer,
                listen: ([127, 0, 0, 1], port).into(),
                data_dir: options.data_dir.join("idp"),
                clients,
                database_url: options.database_urls.get("idp").cloned(),
                redis_url: options.redis_url.clone(),
                redis_sentinels: options.redis_sentinels.clone(),
                redis_master_name: options.redis_master_name.clone(),
                redis_prefix: Some(format!("idp:{}:", random_secret())),
                upstreams: broker.as_ref().map(eid_upstreams).unwrap_or_default(),
                operators: demo.operator.clone(),
                metrics_listen: options.idp_metrics_listen,
                ..idp::Config::default()
            };
            if let Some(idle) = options.idp_session_idle_seconds {
                config.session_idle_seconds = Some(idle);
                config.session_sweep_seconds = 1;
            }
            if options.quick_retries {
                config.delivery_retry_base_millis = 100;
                config.delivery_retry_max_millis = 500;
                config.delivery_poll_millis = 100;
            }
            let mut running = RunningIdp::serve(config, listener).await?;
            running.host = place.host.clone();
            Some(running)
        }
        _ => None,
    };
    Ok(Federation { idp, broker, nodes })
}

/// "ID-kaart" and "Smart-ID" buttons, both through the test broker.
fn eid_upstreams(broker: &RunningBroker) -> Vec<UpstreamConfig> {
    [
        ("idcard", "ID-kaart", "ID card"),
        ("smartid", "Smart-ID", "Smart-ID"),
    ]
    .into_iter()
    .map(|(method, et, en)| UpstreamConfig {
        id: method.to_owned(),
        label_et: et.to_owned(),
        label_en: en.to_owned(),
        issuer: broker.url(),
        discovery_url: Some(format!(
            "{}/oidc/.well-known/openid-configuration",
            broker.url()
        )),
        client_id: "idp".to_owned(),
        client_secret: broker.broker.secret().into(),
        scopes: vec![method.to_owned()],
        amr: method.to_owned(),
        acr: Some(idp::oidc::acr::Acr::High),
        claims: ClaimProfile::Tara,
        ..UpstreamConfig::default()
    })
    .collect()
}

async fn seed(
    state: &school_node::state::AppState,
    institution: &Institution,
) -> anyhow::Result<()> {
    let db = &state.db;
    if school_node::store::accounts::count(db).await? > 0 {
        return Ok(());
    }
    let mut relations = Vec::new();
    for account in &institution.account {
        let input = PersonalDataInput {
            first_name: account.first_name.clone(),
            last_name: account.last_name.clone(),
            personal_code: account.personal_code.clone(),
            email: account.email.clone(),
            phone: account.phone.clone(),
            address: account.address.clone(),
        };
        let roles = account
            .roles
            .iter()
            .map(|r| Role::parse(r).with_context(|| format!("unknown role {r:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let temporary = account.temporary.as_deref().map(Secret::new);
        let id = accounts::create(db, &input, &roles, temporary.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("{} {}: {e}", account.first_name, account.last_name))?;
        if temporary.is_none() && !account.no_password {
            let password = Secret::new(DEMO_PASSWORD);
            accounts::change_password(db, &id, &password, &password, None).await?;
        }
        relations.extend(
            account
                .children
                .iter()
                .map(|child| (id.clone(), child.clone())),
        );
    }
    for (parent, child) in relations {
        accounts::add_child(db, &parent, &child)
            .await
            .map_err(|e| anyhow::anyhow!("child {child}: {e}"))?;
    }
    Ok(())
}

/// The demo institutions' logos (simple SVGs of their own); other institutions have none.
fn demo_logo(id: &str) -> Option<&'static str> {
    match id {
        "jpk" => Some(include_str!("../logos/jpk.svg")),
        "laagri" => Some(include_str!("../logos/laagri.svg")),
        "muusikakool" => Some(include_str!("../logos/muusikakool.svg")),
        _ => None,
    }
}
