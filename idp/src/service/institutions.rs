//! Institutions as the operators' console keeps them (DESIGN: the client registry): listed and
//! searched, added, edited, disabled and enabled, their secrets made and rotated. Those from
//! the configuration (`clients_file`, inline `[[client]]`) are shown and never changed here.
//! Each change is an audit event, reaches this instance's registry at once and every other
//! instance within `reload_seconds`.

use shared::audit::{Event, Recorder};
use shared::{ClientId, Clock};

use super::console::ConsoleSession;
use super::logout::Logout;
use super::random_token;
use super::registration::Registration;
use crate::config::{ClientConfig, SecretConfig, hash_secret};
use crate::store::Database;
use crate::store::clients::{self, ClientRow, Source};

pub const EVENT_ADDED: &str = "institution.added";
pub const EVENT_CHANGED: &str = "institution.changed";
pub const EVENT_DISABLED: &str = "institution.disabled";
pub const EVENT_ENABLED: &str = "institution.enabled";
pub const EVENT_SECRET: &str = "institution.secret";

/// How many institutions a page of the list shows.
pub const PAGE_SIZE: i64 = 50;

/// What an operator enters for an institution (and what enrolment derives from a node).
#[derive(Debug, Clone, Default)]
pub struct InstitutionInput {
    pub client_id: String,
    pub name: String,
    pub logo_url: Option<String>,
    /// The institution's entry page and federation API (`federation_url`).
    pub entry_url: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub jwks_uri: Option<String>,
    /// For an application of a school: the school whose accounts sign in to it.
    pub federation_node: Option<String>,
}

#[derive(Debug)]
pub enum InstitutionError {
    /// What is wrong, one line a field.
    Invalid(Vec<String>),
    /// The client id is taken (by another institution, or by the configuration).
    Exists,
    NotFound,
    /// It comes from the configuration: change it there.
    FromConfiguration,
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for InstitutionError {
    fn from(e: anyhow::Error) -> Self {
        InstitutionError::Internal(e)
    }
}

impl From<sqlx::Error> for InstitutionError {
    fn from(e: sqlx::Error) -> Self {
        InstitutionError::Internal(e.into())
    }
}

/// A page of the list.
pub struct Listing {
    pub rows: Vec<ClientRow>,
    pub total: i64,
    pub offset: i64,
}

/// Whether `id` can be a client id: what a school node's `institution_id` may be.
pub fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// An absolute http(s) URL without a fragment (RFC 6749 §3.1.2), or why not.
pub fn url_problem(field: &str, url: &str) -> Option<String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            (u.fragment().is_some()).then(|| format!("{field}: {url} has a fragment"))
        }
        _ => Some(format!("{field}: {url:?} is not an http(s) URL")),
    }
}

impl InstitutionInput {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !valid_client_id(&self.client_id) {
            problems.push("client_id: 1–32 characters a-z, 0-9 or '-'".to_owned());
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            problems.push("name: 1–200 characters".to_owned());
        }
        if self.redirect_uris.is_empty() {
            problems.push("redirect_uris: at least one".to_owned());
        }
        for (field, urls) in [
            ("redirect_uris", &self.redirect_uris),
            ("post_logout_redirect_uris", &self.post_logout_redirect_uris),
        ] {
            problems.extend(urls.iter().filter_map(|u| url_problem(field, u)));
        }
        for (field, url) in [
            ("logo_url", &self.logo_url),
            ("entry_url", &self.entry_url),
            ("backchannel_logout_uri", &self.backchannel_logout_uri),
            ("frontchannel_logout_uri", &self.frontchannel_logout_uri),
            ("jwks_uri", &self.jwks_uri),
        ] {
            problems.extend(url.as_deref().and_then(|u| url_problem(field, u)));
        }
        if self
            .federation_node
            .as_deref()
            .is_some_and(|n| !valid_client_id(n))
        {
            problems.push("federation_node: a client id".to_owned());
        }
        problems
    }

    fn into_config(self, secret_hash: Option<String>, secrets: Vec<SecretConfig>) -> ClientConfig {
        ClientConfig {
            client_id: self.client_id,
            name: self.name.trim().to_owned(),
            logo_url: self.logo_url,
            secret_hash,
            secrets,
            jwks_uri: self.jwks_uri,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            backchannel_logout_uri: self.backchannel_logout_uri,
            frontchannel_logout_uri: self.frontchannel_logout_uri,
            federation_url: self.entry_url,
            federation_node: self.federation_node,
            id_token_alg: None,
        }
    }

    pub fn from_row(row: &ClientRow) -> Self {
        InstitutionInput {
            client_id: row.client_id.clone(),
            name: row.name.clone(),
            logo_url: row.logo_url.clone(),
            entry_url: row.federation_url.clone(),
            redirect_uris: serde_json::from_str(&row.redirect_uris).unwrap_or_default(),
            post_logout_redirect_uris: serde_json::from_str(&row.post_logout_redirect_uris)
                .unwrap_or_default(),
            backchannel_logout_uri: row.backchannel_logout_uri.clone(),
            frontchannel_logout_uri: row.frontchannel_logout_uri.clone(),
            jwks_uri: row.jwks_uri.clone(),
            federation_node: row.federation_node.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Institutions {
    pub db: Database,
    pub registration: Registration,
    pub logout: Logout,
    pub audit: Recorder,
    pub clock: Clock,
}

impl Institutions {
    pub async fn list(&self, query: &str, offset: i64) -> anyhow::Result<Listing> {
        let offset = offset.max(0);
        let (rows, total) = clients::search(&self.db, query.trim(), offset, PAGE_SIZE).await?;
        Ok(Listing {
            rows,
            total,
            offset,
        })
    }

    pub async fn get(&self, client_id: &str) -> anyhow::Result<Option<ClientRow>> {
        Ok(clients::get(&self.db, client_id).await?)
    }

    /// Registers a new institution with a new secret, returned once (only its hash is kept).
    pub async fn add(
        &self,
        input: InstitutionInput,
        by: &ConsoleSession,
        detail: &str,
    ) -> Result<String, InstitutionError> {
        let problems = input.problems();
        if !problems.is_empty() {
            return Err(InstitutionError::Invalid(problems));
        }
        if self.registration.configured(&input.client_id)? {
            return Err(InstitutionError::Exists);
        }
        let secret = random_token();
        let id = input.client_id.clone();
        let config = input.into_config(Some(hash_secret(&secret)), Vec::new());
        if !clients::insert(&self.db, &config, Source::Console, self.clock.now()).await? {
            return Err(InstitutionError::Exists);
        }
        self.changed(&id, EVENT_ADDED, by, detail).await?;
        Ok(secret)
    }

    /// Changes what the operator may change; the secrets and the id stay.
    pub async fn edit(
        &self,
        input: InstitutionInput,
        by: &ConsoleSession,
    ) -> Result<(), InstitutionError> {
        let row = self.editable(&input.client_id).await?;
        let problems = input.problems();
        if !problems.is_empty() {
            return Err(InstitutionError::Invalid(problems));
        }
        let secrets = serde_json::from_str(&row.secrets).unwrap_or_default();
        let id = input.client_id.clone();
        let config = input.into_config(row.secret_hash, secrets);
        if !clients::update_console(&self.db, &config, self.clock.now()).await? {
            return Err(InstitutionError::NotFound);
        }
        self.changed(&id, EVENT_CHANGED, by, "").await
    }

    /// Disables an institution: authorize and token refuse it, it leaves every nav bar, and
    /// each session in which someone signed in there ends there (back-channel logout to it).
    /// Returns how many sessions it was in.
    pub async fn disable(
        &self,
        client_id: &str,
        by: &ConsoleSession,
    ) -> Result<usize, InstitutionError> {
        self.editable(client_id).await?;
        clients::set_disabled(&self.db, client_id, Some(self.clock.now())).await?;
        self.registration.registry.reload(&self.db).await?;
        let ended = self
            .logout
            .end_institution(&ClientId::new(client_id.to_owned()), by.actor())
            .await?;
        self.changed(
            client_id,
            EVENT_DISABLED,
            by,
            &format!("{ended} sessions ended"),
        )
        .await?;
        Ok(ended)
    }

    pub async fn enable(
        &self,
        client_id: &str,
        by: &ConsoleSession,
    ) -> Result<(), InstitutionError> {
        self.editable(client_id).await?;
        clients::set_disabled(&self.db, client_id, None).await?;
        // Back in the nav bars of the people linked there.
        self.logout.links.links_changed().await?;
        self.changed(client_id, EVENT_ENABLED, by, "").await
    }

    /// A new secret, returned once. The one it replaces keeps working until `old_until`
    /// (Unix seconds; now or earlier ends it at once), so the school can move without a gap.
    pub async fn new_secret(
        &self,
        client_id: &str,
        old_until: i64,
        by: &ConsoleSession,
    ) -> Result<String, InstitutionError> {
        let row = self.editable(client_id).await?;
        let now = self.clock.now();
        let secret = random_token();
        let kept: Vec<SecretConfig> = row
            .secret_hash
            .filter(|_| old_until > now)
            .and_then(|hash| {
                Some(SecretConfig {
                    hash,
                    expires_at: Some(time::OffsetDateTime::from_unix_timestamp(old_until).ok()?),
                })
            })
            .into_iter()
            .collect();
        clients::set_secrets(&self.db, client_id, &hash_secret(&secret), &kept, now).await?;
        let detail = match kept.first() {
            Some(_) => format!("previous secret until {old_until}"),
            None => "previous secret ended".to_owned(),
        };
        self.changed(client_id, EVENT_SECRET, by, &detail).await?;
        Ok(secret)
    }

    /// The stored row of a console institution, or why it cannot be changed here.
    async fn editable(&self, client_id: &str) -> Result<ClientRow, InstitutionError> {
        let row = clients::get(&self.db, client_id)
            .await?
            .ok_or(InstitutionError::NotFound)?;
        if row.source != Source::Console.as_str() {
            return Err(InstitutionError::FromConfiguration);
        }
        Ok(row)
    }

    async fn changed(
        &self,
        client_id: &str,
        kind: &str,
        by: &ConsoleSession,
        detail: &str,
    ) -> Result<(), InstitutionError> {
        self.registration.registry.reload(&self.db).await?;
        let mut event = Event::new(kind, by.actor()).at_institution(client_id);
        if !detail.is_empty() {
            event = event.detail(detail);
        }
        self.audit.now(event).await?;
        Ok(())
    }
}
