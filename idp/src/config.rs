//! The IdP's configuration: defaults, then a TOML file, then `IDP_*` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Format, Toml};
use serde::{Deserialize, Serialize};
use shared::jwt::Alg;

/// One relying party: a school node.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    pub name: String,
    pub logo_url: Option<String>,
    /// `sha256:<hex>` of the client secret (see `idp new-secret`); it does not expire.
    pub secret_hash: Option<String>,
    /// Secrets with an expiry, for rotating without downtime: a client holds at most two
    /// secrets at once (with `secret_hash`); an expired one gets `invalid_client`.
    pub secrets: Vec<SecretConfig>,
    /// The node's JWKS: `private_key_jwt` client authentication and signed federation answers.
    pub jwks_uri: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    /// The node's base URL: its federation API, "forgot password" and "apply" pages.
    pub federation_url: Option<String>,
    /// For an application of a school rather than the school's own site: the client id of the
    /// node whose accounts sign in to it. Defaults to the client itself.
    pub federation_node: Option<String>,
    /// The ID token algorithm this client asked for: ES256, EdDSA or RS256.
    pub id_token_alg: Option<Alg>,
}

/// One client secret by its hash, good until `expires_at` (RFC 3339) when one is given.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    pub hash: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<time::OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The issuer identifier and public base URL, e.g. `https://idp.example.ee`.
    pub issuer: String,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    /// `host:port` of each Redis Sentinel, instead of `redis_url`: the master is found through
    /// them and followed through a failover.
    pub redis_sentinels: Vec<String>,
    /// The name the sentinels monitor the master by (`sentinel monitor <name> …`).
    pub redis_master_name: Option<String>,
    /// For the Redis servers behind the sentinels (`requirepass`); `_FILE` reads it from a file.
    pub redis_password: Option<String>,
    /// For the sentinels themselves, when they ask for one.
    pub redis_sentinel_password: Option<String>,
    pub redis_prefix: Option<String>,
    /// Clients in a TOML file of `[[client]]` tables, reread every `reload_seconds`; a client
    /// removed from it is unregistered. Relative to the configuration file's folder.
    pub clients_file: Option<PathBuf>,
    /// The clients the file held when the configuration was loaded.
    #[serde(skip)]
    pub file_clients: Vec<ClientConfig>,
    pub clients: Vec<ClientConfig>,
    /// ID-card, Smart-ID and other eID brokers: one sign-in button each.
    pub upstreams: Vec<crate::service::upstream::UpstreamConfig>,
    /// Who may open the operators' console (`/admin`), by personal code, and with which role.
    pub operators: Vec<crate::service::console::OperatorConfig>,
    /// A console session ends after this long unused, and after `console_max_hours` however
    /// busy.
    pub console_idle_minutes: i64,
    pub console_max_hours: i64,
    pub default_alg: Alg,
    pub session_idle_minutes: i64,
    pub session_max_hours: i64,
    /// Overrides `session_idle_minutes` when set (tests, fine tuning).
    pub session_idle_seconds: Option<i64>,
    /// How often expired sessions are looked for and their end announced to the nodes.
    pub session_sweep_seconds: i64,
    pub code_seconds: i64,
    pub access_token_seconds: i64,
    pub id_token_seconds: i64,
    pub refresh_token_days: i64,
    /// Outbox retries (back-channel logouts, profile updates): first after this long, doubling
    /// up to the maximum, until the deadline of the kind of message.
    pub delivery_retry_base_millis: u64,
    pub delivery_retry_max_millis: u64,
    pub logout_deadline_minutes: i64,
    /// Overrides `logout_deadline_minutes` when set (tests, drills).
    pub logout_deadline_seconds: Option<i64>,
    pub delivery_poll_millis: u64,
    pub profile_deadline_hours: i64,
    /// How often each process rereads keys and clients, so several instances agree.
    pub reload_seconds: u64,
    pub trust_forwarded_for: bool,
    /// Failed password sign-ins from one address on the IdP's page, in `signin_window_minutes`,
    /// before that address is paused (each node also limits by username and address).
    pub signin_failures_per_address: u64,
    pub signin_window_minutes: u64,
    /// A file holding the key-encryption key (32 bytes as 64 hex digits) that seals the private
    /// signing keys in the database; without one they are stored as plain PEM.
    pub key_encryption_key_file: Option<PathBuf>,
    /// The previous key-encryption key, while rotating: keys it sealed are read and sealed anew.
    pub previous_key_encryption_key_file: Option<PathBuf>,
    /// Expired grants, delivered or given-up outbox rows and dropped keys are deleted this long
    /// after they ended; the sweep runs every `retention_sweep_seconds`.
    pub retention_hours: i64,
    pub retention_sweep_seconds: u64,
    /// Audit events are deleted this many days after they happened.
    pub audit_retention_days: i64,
    /// The database pool's size and timeouts, and how often it is probed.
    pub database_pool: shared::db::PoolSettings,
    /// Each audit event is also one JSON line on the log target `audit` (for a SIEM).
    pub audit_log: bool,
    /// Where Prometheus metrics are served (`GET /metrics`); never the public address.
    pub metrics_listen: Option<SocketAddr>,
    /// Logs as JSON lines (for a log collector) instead of text.
    pub log_json: bool,
    /// On SIGTERM or Ctrl-C: how long requests and deliveries under way may take to finish.
    pub shutdown_grace_seconds: u64,
    /// The time the services go by: never read from a file; tests set a manual clock.
    #[serde(skip)]
    pub clock: shared::Clock,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "http://localhost:8080".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data/idp"),
            database_url: None,
            redis_url: None,
            redis_sentinels: Vec::new(),
            redis_master_name: None,
            redis_password: None,
            redis_sentinel_password: None,
            redis_prefix: None,
            clients_file: None,
            file_clients: Vec::new(),
            clients: Vec::new(),
            upstreams: Vec::new(),
            operators: Vec::new(),
            console_idle_minutes: 15,
            console_max_hours: 8,
            default_alg: Alg::ES256,
            session_idle_minutes: 60,
            session_max_hours: 12,
            session_idle_seconds: None,
            session_sweep_seconds: 30,
            code_seconds: 60,
            access_token_seconds: 300,
            id_token_seconds: 300,
            refresh_token_days: 30,
            reload_seconds: 30,
            delivery_retry_base_millis: 1_000,
            delivery_retry_max_millis: 300_000,
            logout_deadline_minutes: 24 * 60,
            logout_deadline_seconds: None,
            delivery_poll_millis: 1_000,
            profile_deadline_hours: 7 * 24,
            trust_forwarded_for: false,
            signin_failures_per_address: 30,
            signin_window_minutes: 15,
            shutdown_grace_seconds: 20,
            log_json: false,
            metrics_listen: None,
            retention_hours: 24 * 30,
            retention_sweep_seconds: 3600,
            audit_retention_days: 365,
            database_pool: shared::db::PoolSettings::default(),
            audit_log: false,
            key_encryption_key_file: None,
            previous_key_encryption_key_file: None,
            clock: shared::Clock::system(),
        }
    }
}

#[derive(Deserialize)]
struct ClientsFile {
    #[serde(default)]
    client: Vec<ClientConfig>,
}

impl Config {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut config: Config = shared::config::load(
            "IDP_",
            file,
            &[
                "database_url",
                "redis_url",
                "redis_password",
                "redis_sentinel_password",
            ],
        )?;
        // A relative clients file is where the configuration file is.
        if let (Some(path), Some(dir)) = (&config.clients_file, file.and_then(Path::parent))
            && path.is_relative()
        {
            config.clients_file = Some(dir.join(path));
        }
        if let Some(path) = &config.clients_file {
            config.file_clients = read_clients_file(path)?;
        }
        for upstream in &mut config.upstreams {
            if let Some(path) = &upstream.client_secret_file {
                let secret = std::fs::read_to_string(path).with_context(|| {
                    format!("upstream {}: cannot read {}", upstream.id, path.display())
                })?;
                upstream.client_secret = shared::Secret::new(secret.trim());
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Where Redis is: a URL, or sentinels and the master's name.
    pub fn redis(&self) -> shared::ephemeral::RedisSettings<'_> {
        shared::ephemeral::RedisSettings {
            url: self.redis_url.as_deref(),
            sentinels: &self.redis_sentinels,
            master_name: self.redis_master_name.as_deref(),
            password: self.redis_password.as_deref(),
            sentinel_password: self.redis_sentinel_password.as_deref(),
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        if let Err(e) = self.redis().source() {
            problems.push(format!("{e:#}"));
        }
        match self.issuer.parse::<axum::http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.host().is_some()
                    && uri.query().is_none() => {}
            _ => problems.push(format!(
                "issuer must be an http(s) URL without a query, not {:?}",
                self.issuer
            )),
        }
        if self.issuer.ends_with('/') {
            problems.push("issuer must not end with '/'".to_owned());
        }
        let mut upstream_ids = std::collections::HashSet::new();
        for u in &self.upstreams {
            let id_ok = !u.id.is_empty()
                && u.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !id_ok || !upstream_ids.insert(u.id.clone()) {
                problems.push(format!("upstream id {:?} must be a-z0-9- and unique", u.id));
            }
            if u.issuer.is_empty() || u.client_id.is_empty() || u.amr.is_empty() {
                problems.push(format!("upstream {} needs issuer, client_id and amr", u.id));
            }
        }
        problems.extend(client_problems(
            self.clients.iter().chain(&self.file_clients),
        ));
        let mut operator_codes = std::collections::HashSet::new();
        for o in &self.operators {
            if shared::PersonalCode::parse(&o.personal_code).is_err()
                || !operator_codes.insert(o.personal_code.clone())
            {
                problems.push(format!(
                    "operator {:?}: personal_code {:?} must be a valid personal code, once",
                    o.name, o.personal_code
                ));
            }
            if o.name.trim().is_empty() {
                problems.push(format!(
                    "operator {}: name must not be empty",
                    o.personal_code
                ));
            }
        }
        for (name, value, range) in [
            ("console_idle_minutes", self.console_idle_minutes, 1..=240),
            ("console_max_hours", self.console_max_hours, 1..=24),
            (
                "session_idle_minutes",
                self.session_idle_minutes,
                1..=24 * 60,
            ),
            ("session_max_hours", self.session_max_hours, 1..=24 * 30),
            (
                "session_sweep_seconds",
                self.session_sweep_seconds,
                1..=3600,
            ),
            ("code_seconds", self.code_seconds, 1..=600),
            (
                "access_token_seconds",
                self.access_token_seconds,
                30..=86_400,
            ),
            ("id_token_seconds", self.id_token_seconds, 30..=86_400),
            ("refresh_token_days", self.refresh_token_days, 1..=365),
        ] {
            if !range.contains(&value) {
                problems.push(format!("{name} must be in {range:?}"));
            }
        }
        anyhow::ensure!(
            problems.is_empty(),
            "invalid configuration:\n  - {}",
            problems.join("\n  - ")
        );
        Ok(())
    }

    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }
}

/// What is wrong with a set of client registrations, each named.
pub fn client_problems<'a>(clients: impl IntoIterator<Item = &'a ClientConfig>) -> Vec<String> {
    let mut ids = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for c in clients {
        if c.client_id.is_empty() || !ids.insert(c.client_id.clone()) {
            problems.push(format!(
                "client_id {:?} is empty or given twice",
                c.client_id
            ));
        }
        if c.redirect_uris.is_empty() {
            problems.push(format!("client {} has no redirect_uris", c.client_id));
        }
        let secrets = c.secrets.len() + usize::from(c.secret_hash.is_some());
        if secrets > 2 {
            problems.push(format!(
                "client {} holds {secrets} secrets; two at most",
                c.client_id
            ));
        }
        if c.secrets.iter().any(|s| !s.hash.starts_with("sha256:")) {
            problems.push(format!(
                "client {}: a secret's hash must be sha256:<hex> (idp new-secret)",
                c.client_id
            ));
        }
        if secrets == 0 && c.jwks_uri.is_none() {
            problems.push(format!(
                "client {} needs secret_hash or jwks_uri to authenticate",
                c.client_id
            ));
        }
    }
    problems
}

/// The clients a clients file registers.
pub fn read_clients_file(path: &Path) -> anyhow::Result<Vec<ClientConfig>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: ClientsFile =
        toml_clients(&text).with_context(|| format!("{} is not a clients file", path.display()))?;
    Ok(file.client)
}

fn toml_clients(text: &str) -> anyhow::Result<ClientsFile> {
    Ok(Figment::from(Toml::string(text)).extract()?)
}

/// The stored form of a client secret. Secrets are 256-bit random values, so one SHA-256 is as
/// strong as a slow hash and keeps the token endpoint fast.
pub fn hash_secret(secret: &str) -> String {
    format!("sha256:{}", shared::http::sha256_hex(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistakes_are_named() {
        let bad = Config {
            issuer: "idp/".into(),
            clients: vec![ClientConfig {
                client_id: "jpk".into(),
                ..Default::default()
            }],
            ..Config::default()
        };
        let msg = bad.validate().unwrap_err().to_string();
        assert!(
            msg.contains("issuer") && msg.contains("redirect_uris") && msg.contains("secret_hash"),
            "{msg}"
        );
        assert!(hash_secret("x").starts_with("sha256:2d711642"));
    }

    #[test]
    fn a_relative_clients_file_is_beside_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("clients.toml"),
            "[[client]]\nclient_id = \"a\"\nname = \"A\"\nsecret_hash = \"sha256:00\"\nredirect_uris = [\"https://a/cb\"]\n",
        )
        .unwrap();
        let config_file = dir.path().join("idp.toml");
        std::fs::write(&config_file, "clients_file = \"clients.toml\"\n").unwrap();
        let config = Config::load(Some(&config_file)).unwrap();
        assert_eq!(
            config.clients_file.as_deref(),
            Some(dir.path().join("clients.toml").as_path())
        );
        assert_eq!(config.file_clients.len(), 1);
        assert_eq!(config.file_clients[0].client_id, "a");
    }

    #[test]
    fn a_misspelt_algorithm_or_level_is_a_start_up_error() {
        let client = "[[client]]\nclient_id = \"a\"\nredirect_uris = [\"https://a/cb\"]\n";
        assert!(toml_clients(&format!("{client}id_token_alg = \"RS256\"\n")).is_ok());
        let bad = toml_clients(&format!("{client}id_token_alg = \"ES265\"\n"));
        assert!(bad.is_err());
        let upstream: Result<crate::service::upstream::UpstreamConfig, _> =
            Figment::from(Toml::string("id = \"x\"\nacr = \"substantail\"\n")).extract();
        assert!(upstream.is_err(), "a misspelt acr is refused");
    }
}
