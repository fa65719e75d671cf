//! Enrolment of a school node (RFC 7591 dynamic registration with an initial access token).
//! An operator makes a token for one new institution: its client id, name and public address.
//! The school's server (`school-node enroll`) sends its metadata with the token; the IdP takes
//! the token once, checks that every URI lies under the institution's address, registers the
//! client and answers its secret, which only the school then holds.

use serde::{Deserialize, Serialize};
use shared::Clock;
use shared::audit::{Actor, Event, Recorder};

use super::console::ConsoleSession;
use super::institutions::{InstitutionError, InstitutionInput, Institutions, valid_client_id};
use super::random_token;
use crate::store::Database;
use crate::store::enrolment::{self, EnrolmentRow};

pub const EVENT_TOKEN: &str = "enrolment.token";
pub const EVENT_ENROLLED: &str = "enrolment.enrolled";

/// The metadata a node registers with (RFC 7591 §2, OpenID Connect logout registration).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    /// The institution's entry page (its `public_url`).
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub jwks_uri: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
}

/// A registered node: what the registration response carries.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub client_id: String,
    pub client_secret: String,
    pub client_id_issued_at: i64,
    /// 0: the secret does not expire (an operator rotates it).
    pub client_secret_expires_at: i64,
    pub client_name: String,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

#[derive(Debug)]
pub enum EnrolmentError {
    /// The token is unknown, used or expired (RFC 6750 `invalid_token`).
    InvalidToken,
    /// A redirect URI is not the node's (`invalid_redirect_uri`).
    InvalidRedirectUri(String),
    /// Other metadata are wrong (`invalid_client_metadata`).
    InvalidMetadata(String),
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for EnrolmentError {
    fn from(e: anyhow::Error) -> Self {
        EnrolmentError::Internal(e)
    }
}

impl From<sqlx::Error> for EnrolmentError {
    fn from(e: sqlx::Error) -> Self {
        EnrolmentError::Internal(e.into())
    }
}

/// What the operator asks a token for.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub client_id: String,
    pub name: String,
    pub public_url: String,
    pub hours: i64,
}

/// A token just made: its value is shown once.
pub struct IssuedToken {
    pub token: String,
    pub expires_at: i64,
}

#[derive(Clone)]
pub struct Enrolment {
    pub db: Database,
    pub institutions: Institutions,
    pub audit: Recorder,
    pub clock: Clock,
}

fn token_hash(token: &str) -> String {
    shared::http::sha256_hex(&format!("enrolment:{token}"))
}

/// `url` with exactly one trailing slash: the prefix every URI of the node must have.
fn base_of(url: &str) -> String {
    format!("{}/", url.trim_end_matches('/'))
}

impl Enrolment {
    pub async fn issue(
        &self,
        request: TokenRequest,
        by: &ConsoleSession,
    ) -> Result<IssuedToken, InstitutionError> {
        let mut problems = Vec::new();
        if !valid_client_id(&request.client_id) {
            problems.push("client_id: 1–32 characters a-z, 0-9 or '-'".to_owned());
        }
        if request.name.trim().is_empty() || request.name.chars().count() > 200 {
            problems.push("name: 1–200 characters".to_owned());
        }
        problems.extend(super::institutions::url_problem(
            "public_url",
            &request.public_url,
        ));
        if !(1..=7 * 24).contains(&request.hours) {
            problems.push("hours: 1–168".to_owned());
        }
        if !problems.is_empty() {
            return Err(InstitutionError::Invalid(problems));
        }
        if self.institutions.get(&request.client_id).await?.is_some()
            || self
                .institutions
                .registration
                .configured(&request.client_id)?
        {
            return Err(InstitutionError::Exists);
        }
        let token = random_token();
        let now = self.clock.now();
        let expires_at = now + request.hours * 3600;
        let row = EnrolmentRow {
            token_hash: token_hash(&token),
            client_id: request.client_id.clone(),
            name: request.name.trim().to_owned(),
            public_url: request.public_url.trim_end_matches('/').to_owned(),
            created_by: by.personal_code.clone(),
            created_at: now,
            expires_at,
            used_at: None,
        };
        enrolment::insert(&self.db, &row).await?;
        let event = Event::new(EVENT_TOKEN, by.actor())
            .at_institution(&request.client_id)
            .detail(format!("for {} until {expires_at}", row.public_url));
        self.audit.now(event).await?;
        Ok(IssuedToken { token, expires_at })
    }

    /// Tokens not yet used, newest first (the console's list; their values are not kept).
    pub async fn open(&self) -> anyhow::Result<Vec<EnrolmentRow>> {
        Ok(enrolment::open(&self.db, self.clock.now()).await?)
    }

    /// The registration request: the token is taken (once, even by many requests at once),
    /// the metadata checked against the institution's address, and the client registered.
    pub async fn register(
        &self,
        token: &str,
        metadata: ClientMetadata,
    ) -> Result<Registered, EnrolmentError> {
        if !super::is_token(token) {
            return Err(EnrolmentError::InvalidToken);
        }
        let now = self.clock.now();
        let Some(row) = enrolment::take(&self.db, &token_hash(token), now).await? else {
            return Err(EnrolmentError::InvalidToken);
        };
        let input = match Self::checked(&row, &metadata) {
            Ok(input) => input,
            Err(e) => {
                // A node that asked for the wrong thing may ask again with the same token.
                enrolment::give_back(&self.db, &row.token_hash).await?;
                return Err(e);
            }
        };
        let operator = ConsoleSession {
            personal_code: row.created_by.clone(),
            name: String::new(),
            role: super::console::Role::Operator,
            acr: crate::oidc::acr::Acr::Substantial,
            method: String::new(),
            browser: String::new(),
            created_at: row.created_at,
        };
        let secret = match self
            .institutions
            .add(input, &operator, "enrolled by the node")
            .await
        {
            Ok(secret) => secret,
            Err(InstitutionError::Exists) => {
                return Err(EnrolmentError::InvalidMetadata(format!(
                    "{} is registered already",
                    row.client_id
                )));
            }
            Err(InstitutionError::Invalid(problems)) => {
                enrolment::give_back(&self.db, &row.token_hash).await?;
                return Err(EnrolmentError::InvalidMetadata(problems.join("; ")));
            }
            Err(e) => {
                enrolment::give_back(&self.db, &row.token_hash).await?;
                return Err(EnrolmentError::Internal(anyhow::anyhow!("{e:?}")));
            }
        };
        let event = Event::new(
            EVENT_ENROLLED,
            Actor::institution(&row.client_id, Some(&row.name), None),
        )
        .at_institution(&row.client_id)
        .detail(format!("token by {}", row.created_by));
        self.audit.soon(event).await;
        Ok(Registered {
            client_id: row.client_id,
            client_secret: secret,
            client_id_issued_at: now,
            client_secret_expires_at: 0,
            client_name: row.name,
            metadata,
        })
    }

    /// The institution the metadata describe, when every URI is the node's own.
    fn checked(row: &EnrolmentRow, m: &ClientMetadata) -> Result<InstitutionInput, EnrolmentError> {
        let base = base_of(&row.public_url);
        // Compared as parsed (dot segments resolved), so `…/kool/../elsewhere` is not under it.
        let own = |uri: &str| {
            reqwest::Url::parse(uri).is_ok_and(|u| base_of(u.as_str()).starts_with(&base))
        };
        if m.redirect_uris.is_empty() {
            return Err(EnrolmentError::InvalidRedirectUri(
                "redirect_uris: at least one".into(),
            ));
        }
        if let Some(uri) = m.redirect_uris.iter().find(|u| !own(u)) {
            return Err(EnrolmentError::InvalidRedirectUri(format!(
                "{uri} is not under {}",
                row.public_url
            )));
        }
        let others = m
            .post_logout_redirect_uris
            .iter()
            .map(String::as_str)
            .chain(
                [
                    &m.client_uri,
                    &m.logo_uri,
                    &m.jwks_uri,
                    &m.backchannel_logout_uri,
                    &m.frontchannel_logout_uri,
                ]
                .into_iter()
                .filter_map(|u| u.as_deref()),
            );
        for uri in others {
            if !own(uri) {
                return Err(EnrolmentError::InvalidMetadata(format!(
                    "{uri} is not under {}",
                    row.public_url
                )));
            }
        }
        if m.token_endpoint_auth_method
            .as_deref()
            .is_some_and(|method| !matches!(method, "client_secret_basic" | "client_secret_post"))
        {
            return Err(EnrolmentError::InvalidMetadata(
                "token_endpoint_auth_method: client_secret_basic or client_secret_post".into(),
            ));
        }
        Ok(InstitutionInput {
            client_id: row.client_id.clone(),
            name: row.name.clone(),
            logo_url: m.logo_uri.clone(),
            entry_url: Some(
                m.client_uri
                    .clone()
                    .unwrap_or_else(|| row.public_url.clone()),
            ),
            redirect_uris: m.redirect_uris.clone(),
            post_logout_redirect_uris: m.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: m.backchannel_logout_uri.clone(),
            frontchannel_logout_uri: m.frontchannel_logout_uri.clone(),
            jwks_uri: m.jwks_uri.clone(),
            federation_node: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> EnrolmentRow {
        EnrolmentRow {
            token_hash: String::new(),
            client_id: "new".into(),
            name: "Uus Kool".into(),
            public_url: "https://uus.example.ee/kool".into(),
            created_by: "38001010008".into(),
            created_at: 0,
            expires_at: 10,
            used_at: None,
        }
    }

    #[test]
    fn a_node_registers_only_uris_under_its_own_address() {
        let good = ClientMetadata {
            redirect_uris: vec!["https://uus.example.ee/kool/sso/callback".into()],
            jwks_uri: Some("https://uus.example.ee/kool/.well-known/jwks.json".into()),
            ..Default::default()
        };
        let input = Enrolment::checked(&row(), &good).unwrap();
        assert_eq!(
            input.entry_url.as_deref(),
            Some("https://uus.example.ee/kool")
        );
        for bad in [
            "https://evil.example/sso/callback",
            "https://uus.example.ee/koolX/sso/callback",
            "https://uus.example.ee.evil.example/kool/sso/callback",
            "http://uus.example.ee/kool/sso/callback",
        ] {
            let m = ClientMetadata {
                redirect_uris: vec![bad.into()],
                ..good.clone()
            };
            assert!(
                matches!(
                    Enrolment::checked(&row(), &m),
                    Err(EnrolmentError::InvalidRedirectUri(_))
                ),
                "{bad}"
            );
        }
        let m = ClientMetadata {
            backchannel_logout_uri: Some("https://evil.example/bc".into()),
            ..good
        };
        assert!(matches!(
            Enrolment::checked(&row(), &m),
            Err(EnrolmentError::InvalidMetadata(_))
        ));
    }
}
