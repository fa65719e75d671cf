//! Building and running the IdP from a `Config`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use shared::ephemeral::Ephemeral;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::service::authorize::Authorizer;
use crate::service::client_auth::ClientAuth;
use crate::service::clients::Registry;
use crate::service::delivery::Deliveries;
use crate::service::eid::Eid;
use crate::service::federation::NodeApi;
use crate::service::health::Health;
use crate::service::key_encryption::KeyEncryption;
use crate::service::keys::KeyRing;
use crate::service::linking::Linking;
use crate::service::links::Links;
use crate::service::logout::Logout;
use crate::service::node_requests::NodeRequests;
use crate::service::registration::Registration;
use crate::service::sessions::Sessions;
use crate::service::signin::{PendingLogins, SignIn};
use crate::service::tokens::{Lifetimes, Tokens};
use crate::service::upstream::Upstreams;
use crate::state::AppState;
use crate::store::{self, Database};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    workers: Option<Workers>,
}

impl Application {
    /// The outbox worker, for tests that drive deliveries themselves.
    pub fn deliveries(&self) -> Option<&Deliveries> {
        self.workers.as_ref().map(|w| &w.deliveries)
    }

    /// The IdP's database, for the launcher's and the tests' own look-ups.
    pub fn database(&self) -> Option<Database> {
        self.workers.as_ref().map(|w| w.db.clone())
    }
}

/// What the background tasks need beside the services.
struct Workers {
    deliveries: Deliveries,
    db: Database,
    registration: Registration,
}

pub async fn open_database(config: &Config) -> anyhow::Result<Database> {
    match &config.database_url {
        Some(url) => Database::connect_with(url, &store::MIGRATIONS, &config.database_pool).await,
        None => Database::open_file(&config.data_dir, "idp.db", &store::MIGRATIONS).await,
    }
}

pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(shared::http::client_builder().build()?)
}

/// How the private signing keys are sealed in the database.
pub fn key_encryption(config: &Config) -> anyhow::Result<KeyEncryption> {
    KeyEncryption::from_files(
        config.key_encryption_key_file.as_deref(),
        config.previous_key_encryption_key_file.as_deref(),
    )
}

/// Opens the stores and wires every service to what it needs.
async fn services(config: Config) -> anyhow::Result<(AppState, Workers)> {
    let clock = config.clock.clone();
    let db = open_database(&config).await?;
    let ephemeral = Ephemeral::open(
        &config.redis(),
        config.redis_prefix.as_deref().unwrap_or("idp:"),
    )
    .await?;
    let keys = KeyRing::load(&db, clock.clone(), key_encryption(&config)?).await?;
    shared::audit::log_events(config.audit_log);
    // The writer task ends with the last recorder, when the services are dropped.
    let (audit, _writer) = shared::audit::Recorder::start(db.clone());
    let http = http_client()?;
    let clients = Registry::new(http.clone());
    let registration = Registration {
        db: db.clone(),
        registry: clients.clone(),
        inline: config.clients.clone(),
        file: config.clients_file.clone(),
        clock: clock.clone(),
        last_written: Default::default(),
    };
    registration.sync().await?;
    let issuer = config.issuer.clone();
    let sessions = Sessions::new(
        ephemeral.clone(),
        clock.clone(),
        config
            .session_idle_seconds
            .unwrap_or(config.session_idle_minutes * 60),
        config.session_max_hours * 3600,
        config.session_sweep_seconds,
    );
    let tokens = Tokens {
        db: db.clone(),
        store: ephemeral.clone(),
        keys: keys.clone(),
        issuer: issuer.clone(),
        lifetimes: Lifetimes {
            code: config.code_seconds,
            access_token: config.access_token_seconds,
            id_token: config.id_token_seconds,
            refresh_token: config.refresh_token_days * 86_400,
        },
        clock: clock.clone(),
    };
    let nodes = NodeApi {
        http,
        keys: keys.clone(),
        issuer: issuer.clone(),
        clock: clock.clone(),
    };
    let deliveries = Deliveries {
        db: db.clone(),
        clients: clients.clone(),
        nodes: nodes.clone(),
        clock: clock.clone(),
        retry_base_millis: config.delivery_retry_base_millis,
        retry_max_millis: config.delivery_retry_max_millis,
        logout_deadline_millis: config
            .logout_deadline_seconds
            .map_or(config.logout_deadline_minutes * 60_000, |s| {
                s.max(1) * 1_000
            }),
        profile_deadline_millis: config.profile_deadline_hours * 3_600_000,
        poll_millis: config.delivery_poll_millis,
        wake: Arc::default(),
    };
    let links = Links {
        audit: audit.clone(),
        db: db.clone(),
        store: ephemeral.clone(),
        nodes: nodes.clone(),
        clients: clients.clone(),
        deliveries: deliveries.clone(),
        clock: clock.clone(),
    };
    let pending = PendingLogins::new(ephemeral.clone());
    let authorizer = Authorizer {
        audit: audit.clone(),
        sessions: sessions.clone(),
        links: links.clone(),
        clients: clients.clone(),
        tokens: tokens.clone(),
        pending: pending.clone(),
        issuer: issuer.clone(),
        clock: clock.clone(),
    };
    let signin = SignIn {
        audit: audit.clone(),
        pending: pending.clone(),
        sessions: sessions.clone(),
        clients: clients.clone(),
        nodes: nodes.clone(),
        authorizer: authorizer.clone(),
        throttle: crate::service::throttle::AddressThrottle {
            store: ephemeral.clone(),
            limit: config.signin_failures_per_address.max(1),
            window: Duration::from_secs(config.signin_window_minutes.max(1) * 60),
        },
        clock: clock.clone(),
    };
    let upstreams = Upstreams::new(&config.upstreams, &issuer)?;
    let eid = Eid {
        upstreams: upstreams.clone(),
        pending: pending.clone(),
        signin: signin.clone(),
        clients: clients.clone(),
        nodes: nodes.clone(),
        store: ephemeral.clone(),
    };
    let linking = Linking {
        sessions: sessions.clone(),
        links: links.clone(),
        clients: clients.clone(),
        pending,
        store: ephemeral.clone(),
    };
    let logout = Logout {
        audit: audit.clone(),
        sessions: sessions.clone(),
        deliveries: deliveries.clone(),
        clients: clients.clone(),
        links: links.clone(),
        keys: keys.clone(),
        issuer: issuer.clone(),
        tokens: tokens.clone(),
    };
    let node_requests = NodeRequests {
        clients: clients.clone(),
        issuer: issuer.clone(),
        replay: ephemeral.clone(),
        links: links.clone(),
        logout: logout.clone(),
        clock: clock.clone(),
    };
    let client_auth = ClientAuth {
        registry: clients.clone(),
        replay: ephemeral.clone(),
        issuer,
        clock: clock.clone(),
    };
    let retention = crate::service::retention::Retention {
        db: db.clone(),
        clock: config.clock.clone(),
        keep_seconds: config.retention_hours * 3600,
        audit_days: config.audit_retention_days,
    };
    let health = Health {
        db: db.clone(),
        ephemeral: ephemeral.clone(),
    };
    let my_data = crate::service::my_data::MyData {
        db: db.clone(),
        sessions: sessions.clone(),
        links: links.clone(),
        logout: logout.clone(),
        clients: clients.clone(),
        nodes: nodes.clone(),
        audit: audit.clone(),
        clock: clock.clone(),
    };
    let console = crate::service::console::Console {
        store: ephemeral,
        operators: Arc::new(config.operators.clone()),
        idle: Duration::from_secs(
            u64::try_from(config.console_idle_minutes.max(1)).unwrap_or(15) * 60,
        ),
        max_seconds: config.console_max_hours * 3600,
        min_acr: crate::oidc::acr::Acr::Substantial,
        clock: clock.clone(),
        audit: audit.clone(),
    };
    let institutions = crate::service::institutions::Institutions {
        db: db.clone(),
        registration: registration.clone(),
        logout: logout.clone(),
        audit: audit.clone(),
        clock: clock.clone(),
    };
    let enrolment = crate::service::enrolment::Enrolment {
        db: db.clone(),
        institutions: institutions.clone(),
        audit: audit.clone(),
        clock: clock.clone(),
    };
    let operations = crate::service::operations::Operations {
        db: db.clone(),
        keys: keys.clone(),
        links: links.clone(),
        logout: logout.clone(),
        sessions: sessions.clone(),
        clients: clients.clone(),
        audit: audit.clone(),
        clock: clock.clone(),
        retry_deadline_millis: config.logout_deadline_minutes * 60_000,
        keep_rotated_seconds: 24 * 3600,
    };
    let state = AppState::new(crate::state::Services {
        operations,
        console,
        institutions,
        enrolment,
        my_data,
        audit,
        config: Arc::new(config),
        keys,
        clients,
        sessions,
        client_auth,
        authorizer,
        signin,
        eid,
        upstreams,
        linking,
        logout,
        tokens,
        node_requests,
        health,
        retention,
    });
    Ok((
        state,
        Workers {
            deliveries,
            db,
            registration,
        },
    ))
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        Self::build_on(config, listener).await
    }

    /// Builds on a listener bound beforehand (the launcher and tests know every port first).
    pub async fn build_on(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        config.validate()?;
        let (state, workers) = services(config).await?;
        Ok(Self {
            listener,
            state,
            workers: Some(workers),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(std::future::pending()).await
    }

    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let workers = self
            .workers
            .ok_or_else(|| anyhow::anyhow!("the application was already run"))?;
        tracing::info!(issuer = %self.state.config.issuer, address = %self.listener.local_addr()?, database = workers.db.kind(), "IdP listening");
        let reload = spawn_reload(
            self.state.clone(),
            workers.db.clone(),
            workers.registration.clone(),
        );
        let metrics = match self.state.config.metrics_listen {
            Some(address) => Some(shared::metrics::serve(address).await?),
            None => None,
        };
        let (stop, stopping) = shared::retry::shutdown();
        let delivery = workers.deliveries.spawn(stopping);
        let sweeper = spawn_sweeper(self.state.clone());
        let retention = spawn_retention(self.state.clone());
        let grace = Duration::from_secs(self.state.config.shutdown_grace_seconds);
        let app = crate::http::router(self.state);
        let served = shared::http::serve_gracefully(
            self.listener,
            app,
            shutdown,
            grace,
            stop,
            vec![("delivery", delivery)],
        )
        .await
        .context("server failed");
        reload.abort();
        sweeper.abort();
        retention.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        served
    }
}

/// Rereads keys and clients now and then, so a rotation or registration by another instance or
/// by the CLI takes effect without a restart.
fn spawn_reload(
    state: AppState,
    db: Database,
    registration: Registration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(state.config.reload_seconds.max(1));
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = state.keys.reload(&db).await {
                tracing::warn!(error = %format!("{e:#}"), "reloading keys failed");
            }
            if let Err(e) = registration.sync().await {
                tracing::warn!(error = %format!("{e:#}"), "the client registry was kept as it was");
            }
        }
    })
}

/// Deletes what is no longer needed, now and then.
fn spawn_retention(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(state.config.retention_sweep_seconds.max(1));
        let mut wait = shared::retry::first_run(every);
        loop {
            tokio::time::sleep(wait).await;
            wait = every;
            if let Err(e) = state.retention.sweep().await {
                tracing::warn!(error = %format!("{e:#}"), "the retention sweep failed");
            }
        }
    })
}

/// Ends expired IdP sessions and tells their clients, as a sign-out does (DESIGN §3.4).
fn spawn_sweeper(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(
            u64::try_from(state.config.session_sweep_seconds.max(1)).unwrap_or(30),
        );
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = state.logout.sweep_expired().await {
                tracing::warn!(error = %format!("{e:#}"), "sweeping sessions failed");
            }
        }
    })
}
