//! Building and running the node from a `Config`: the binary, the launcher and the tests all
//! start the real thing this way.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use shared::ephemeral::Ephemeral;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::mail::{Mailer, Outbox, worker};
use crate::service::recovery::Recovery;
use crate::service::signin::SignIn;
use crate::service::throttle::Throttle;
use crate::sso::client::SsoClient;
use crate::sso::federation::FederationApi;
use crate::sso::idp_api::IdpApi;
use crate::state::AppState;
use crate::store::{self, Database};
use shared::jwt::JwksCache;

pub struct Application {
    listener: TcpListener,
    state: AppState,
    mailer: Arc<Mailer>,
}

/// Opens the database and the ephemeral store the configuration names.
pub async fn open_storage(config: &Config) -> anyhow::Result<(Database, Ephemeral)> {
    let db = match &config.database_url {
        Some(url) => {
            { Database::connect_with(url, &store::MIGRATIONS, &config.database_pool).await }?
        }
        None => Database::open_file(&config.data_dir, "school-node.db", &store::MIGRATIONS).await?,
    };
    let prefix = config
        .redis_prefix
        .clone()
        .unwrap_or_else(|| format!("school:{}:", config.institution_id));
    let ephemeral = Ephemeral::open(&config.redis(), &prefix).await?;
    Ok((db, ephemeral))
}

/// Checks what the configuration names without starting: the database, the ephemeral store,
/// the IdP's discovery when single sign-on is on, and the SMTP server when mail goes there.
pub async fn check_config(config: &Config) -> Vec<shared::check::Finding> {
    use shared::check::check;
    let mut findings = vec![("configuration".to_owned(), Ok("read and valid".to_owned()))];
    findings.push(
        check("database and ephemeral store", async {
            let (db, ephemeral) = open_storage(config).await?;
            ephemeral.get("health").await?;
            anyhow::Ok(format!(
                "{} (migrations applied), {}",
                db.kind(),
                ephemeral.kind()
            ))
        })
        .await,
    );
    if config.sso.enabled() {
        findings.push(
            check("the IdP's discovery", async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    config.sso.issuer.trim_end_matches('/')
                );
                let meta: serde_json::Value = shared::http::client_builder()
                    .build()?
                    .get(&url)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                anyhow::ensure!(
                    meta["issuer"] == config.sso.issuer.as_str(),
                    "{url} names the issuer {}",
                    meta["issuer"]
                );
                anyhow::Ok(url)
            })
            .await,
        );
    }
    if config.mail.transport == crate::mail::TransportKind::Smtp {
        findings.push(
            check("SMTP server", async {
                let address = format!("{}:{}", config.mail.smtp_host, config.mail.smtp_port);
                tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    tokio::net::TcpStream::connect(&address),
                )
                .await
                .map_err(|_| anyhow::anyhow!("{address} does not answer"))?
                .map_err(|e| anyhow::anyhow!("{address}: {e}"))?;
                anyhow::Ok(format!("{address} answers"))
            })
            .await,
        );
    }
    findings
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
        let (db, ephemeral) = open_storage(&config).await?;
        let throttle = Throttle::new(ephemeral.clone(), config.throttle.clone());
        let audit = crate::service::audit::Audit {
            db: db.clone(),
            institution: config.institution_id.clone(),
            institution_name: config.institution_name.clone(),
        };
        let signin = SignIn::new(db.clone(), throttle.clone(), audit.clone()).await?;
        let outbox = Outbox::new(db.clone());
        let mailer = Arc::new(Mailer::new(
            &config.mail,
            &config.institution_name,
            &config.data_dir,
        )?);
        let recovery = Recovery {
            db: db.clone(),
            outbox: outbox.clone(),
            throttle,
            link_minutes: config.sign_in_link_minutes,
            site_url: config.site_url(),
            institution: config.institution_name.clone(),
            institution_id: config.institution_id.clone(),
        };
        let node_key = crate::sso::node_key(&db).await?;
        let (sso, federation, sync) = if config.sso.enabled() {
            let client = Arc::new(SsoClient::new(config.sso.clone(), &config.site_url())?);
            let http = shared::http::client_builder().build()?;
            let api = FederationApi {
                issuer: config.sso.issuer.clone(),
                client_id: config.sso.client_id.clone(),
                idp_keys: JwksCache::new(
                    format!("{}/jwks.json", config.sso.issuer.trim_end_matches('/')),
                    http.clone(),
                ),
                key: node_key.clone(),
                replay: ephemeral.clone(),
            };
            let sync = IdpApi {
                db: db.clone(),
                http,
                key: node_key.clone(),
                issuer: config.sso.issuer.clone(),
                client_id: config.sso.client_id.clone(),
                retry_base_millis: config.sso.sync_retry_base_millis,
                retry_max_millis: config.sso.sync_retry_max_millis,
                poll_millis: config.sso.sync_poll_millis,
                deadline_millis: config
                    .sso
                    .sync_deadline_minutes
                    .max(1)
                    .saturating_mul(60_000),
                wake: Arc::default(),
            };
            (Some(client), Some(Arc::new(api)), Some(sync))
        } else {
            (None, None, None)
        };
        let logo = match &config.logo_file {
            Some(file) => {
                let bytes = std::fs::read(file)
                    .with_context(|| format!("cannot read the logo {}", file.display()))?;
                let kind = match file.extension().and_then(|e| e.to_str()) {
                    Some("svg") => "image/svg+xml",
                    Some("png") => "image/png",
                    Some("jpg" | "jpeg") => "image/jpeg",
                    _ => anyhow::bail!("the logo must be an .svg, .png or .jpg file"),
                };
                Some(Arc::new((kind, bytes)))
            }
            None => None,
        };
        shared::audit::log_events(config.audit_log);
        let state = AppState {
            audit,
            logo,
            config: Arc::new(config),
            db,
            ephemeral,
            signin,
            outbox,
            recovery,
            sso,
            federation,
            idp_api: sync,
            node_key,
        };
        Ok(Self {
            listener,
            state,
            mailer,
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

    /// Serves until `shutdown` completes, then finishes the requests under way.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(
            institution = %self.state.config.institution_id,
            address = %self.local_addr(),
            database = self.state.db.kind(),
            ephemeral = self.state.ephemeral.kind(),
            "school node listening"
        );
        let metrics = match self.state.config.metrics_listen {
            Some(address) => Some(shared::metrics::serve(address).await?),
            None => None,
        };
        let (stop, stopping) = shared::retry::shutdown();
        let mut workers = vec![(
            "mail delivery",
            worker::spawn(
                self.state.db.clone(),
                self.mailer,
                &self.state.outbox,
                self.state.config.mail.clone(),
                stopping.clone(),
            ),
        )];
        if let Some(api) = self.state.idp_api.clone() {
            workers.push(("profile sync", api.spawn(stopping)));
        }
        let retention = {
            let (db, keep, keep_events) = (
                self.state.db.clone(),
                self.state.config.retention_hours * 3600,
                self.state.config.audit_retention_days.max(1) * 86_400_000,
            );
            let every =
                std::time::Duration::from_secs(self.state.config.retention_sweep_seconds.max(1));
            tokio::spawn(async move {
                let mut wait = shared::retry::first_run(every);
                loop {
                    tokio::time::sleep(wait).await;
                    wait = every;
                    match crate::store::retention::sweep(&db, crate::store::now(), keep).await {
                        Ok(swept) => tracing::info!(?swept, "retention sweep"),
                        Err(e) => tracing::warn!(error = %e, "the retention sweep failed"),
                    }
                    let before = shared::retry::now_millis() - keep_events;
                    match shared::audit::sweep(&db, before).await {
                        Ok(events) => tracing::info!(events, "audit events swept"),
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "the audit sweep failed")
                        }
                    }
                }
            })
        };
        let grace = std::time::Duration::from_secs(self.state.config.shutdown_grace_seconds);
        let app = crate::http::router(self.state);
        let served =
            shared::http::serve_gracefully(self.listener, app, shutdown, grace, stop, workers)
                .await
                .context("server failed");
        retention.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        served
    }
}
