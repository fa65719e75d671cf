//! The school node's configuration: built-in defaults, then an optional TOML file, then
//! `SCHOOL_*` environment variables; checked once at start with a message for each mistake.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::mail::MailConfig;
use crate::service::throttle::ThrottleConfig;
use crate::sso::SsoConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Short lower-case name of the institution, e.g. `jpk`; prefixes cookies and Redis keys.
    pub institution_id: String,
    /// The institution's name as people know it, e.g. "Jõgeva Põhikool".
    pub institution_name: String,
    /// The institution's logo (SVG or PNG), served at `/logo` for the nav bars of this and the
    /// linked schools and the IdP's sign-in page (register `logo_url = "<public_url>/logo"`).
    pub logo_file: Option<PathBuf>,
    pub listen: SocketAddr,
    /// The address people open, e.g. `https://jpk.example.ee`; `https` turns on Secure cookies.
    pub public_url: String,
    /// Where the SQLite database lives when no `database_url` is given.
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
    /// Start of every Redis key of this node; defaults to `school:<institution_id>:`.
    pub redis_prefix: Option<String>,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: i64,
    pub max_form_bytes: usize,
    pub max_upload_bytes: usize,
    /// Take the client address from the last `X-Forwarded-For` entry (behind a reverse proxy).
    pub trust_forwarded_for: bool,
    /// Sent letters, used or expired sign-in links and delivered profile changes are deleted
    /// this long after they ended (the sweep runs hourly).
    pub retention_hours: i64,
    /// How often the retention sweep runs; the first runs soon after start (within a minute),
    /// so that a node restarted more often than this still sweeps.
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
    /// On SIGTERM or Ctrl-C: how long requests and letters under way may take to finish.
    pub shutdown_grace_seconds: u64,
    /// How long a sign-in link sent by "forgot password" works.
    pub sign_in_link_minutes: i64,
    #[serde(skip_serializing)]
    pub throttle: ThrottleConfig,
    pub mail: MailConfig,
    /// Single sign-on through the central IdP; off when `sso.issuer` is empty.
    pub sso: SsoConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            institution_id: "kool".into(),
            institution_name: "Kool".into(),
            logo_file: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            public_url: "http://localhost:8081".into(),
            data_dir: PathBuf::from("data/kool"),
            database_url: None,
            redis_url: None,
            redis_sentinels: Vec::new(),
            redis_master_name: None,
            redis_password: None,
            redis_sentinel_password: None,
            redis_prefix: None,
            session_idle_minutes: 60,
            max_form_bytes: 64 * 1024,
            max_upload_bytes: 2 * 1024 * 1024,
            trust_forwarded_for: false,
            shutdown_grace_seconds: 20,
            log_json: false,
            metrics_listen: None,
            retention_hours: 24 * 30,
            retention_sweep_seconds: 3600,
            audit_retention_days: 365,
            database_pool: shared::db::PoolSettings::default(),
            audit_log: false,
            sign_in_link_minutes: 60,
            throttle: ThrottleConfig::default(),
            mail: MailConfig::default(),
            sso: SsoConfig::default(),
        }
    }
}

impl Config {
    /// Reads defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let secrets = [
            "database_url",
            "redis_url",
            "redis_password",
            "redis_sentinel_password",
            "mail.smtp_password",
            "sso.client_secret",
        ];
        let mut config: Config = shared::config::load("SCHOOL_", file, &secrets)?;
        // A node enrolled with `school-node enroll` finds its IdP in its data directory.
        if !config.sso.enabled()
            && let Some(enrolled) = crate::sso::enrolment::read(&config.data_dir)?
        {
            config.sso.issuer = enrolled.issuer;
            config.sso.client_id = enrolled.client_id;
            if config.sso.client_secret.expose().is_empty()
                && let Some(secret) = enrolled.client_secret
            {
                config.sso.client_secret = shared::Secret::new(&secret);
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
        let id_ok = !self.institution_id.is_empty()
            && self.institution_id.len() <= 32
            && self
                .institution_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            problems.push(format!(
                "institution_id must be 1–32 characters a-z, 0-9 or '-', not {:?}",
                self.institution_id
            ));
        }
        if self.institution_name.trim().is_empty() {
            problems.push("institution_name must not be empty".to_owned());
        }
        match self.public_url.parse::<axum::http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {}
            _ => problems.push(format!(
                "public_url must be an http(s) URL, not {:?}",
                self.public_url
            )),
        }
        if !(1..=24 * 60).contains(&self.session_idle_minutes) {
            problems.push("session_idle_minutes must be between 1 and 1440".to_owned());
        }
        if self.max_form_bytes < 1024 || self.max_upload_bytes < self.max_form_bytes {
            problems.push(
                "max_form_bytes must be at least 1024 and max_upload_bytes at least max_form_bytes"
                    .to_owned(),
            );
        }
        if !(1..=7 * 24 * 60).contains(&self.sign_in_link_minutes) {
            problems.push("sign_in_link_minutes must be between 1 and 10080".to_owned());
        }
        if self.mail.from.parse::<lettre::Address>().is_err() {
            problems.push(format!(
                "mail.from must be an e-mail address, not {:?}",
                self.mail.from
            ));
        }
        if self.mail.transport == crate::mail::TransportKind::Smtp
            && self.mail.smtp_host.trim().is_empty()
        {
            problems.push("mail.smtp_host must be set for the smtp transport".to_owned());
        }
        if self.sso.enabled()
            && (self.sso.client_id.is_empty() || !self.sso.issuer.starts_with("http"))
        {
            problems.push("sso needs an http(s) issuer and a client_id".to_owned());
        }
        if self.throttle.per_pair == 0 || self.throttle.per_address == 0 {
            problems.push("throttle limits must be at least 1".to_owned());
        }
        anyhow::ensure!(
            problems.is_empty(),
            "invalid configuration:\n  - {}",
            problems.join("\n  - ")
        );
        Ok(())
    }

    /// Cookies are Secure whenever the site is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The site's address without a trailing slash, for links in letters.
    pub fn site_url(&self) -> String {
        self.public_url.trim_end_matches('/').to_owned()
    }

    /// The database URL, or the SQLite file in the data folder.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("school-node.db").display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_mistakes_are_named() {
        Config::default().validate().unwrap();
        let bad = Config {
            institution_id: "Jõgeva".into(),
            public_url: "jpk".into(),
            ..Config::default()
        };
        let msg = bad.validate().unwrap_err().to_string();
        assert!(
            msg.contains("institution_id") && msg.contains("public_url"),
            "{msg}"
        );
    }
}
