//! Single sign-on through the central IdP: the node as an OpenID Connect relying party
//! (`client.rs`, the only user of `openidconnect`) and the federation API the IdP calls
//! (`federation.rs`), both signed with the node's own key.

pub mod client;
pub mod enrolment;
pub mod federation;
pub mod idp_api;
pub mod logout;
pub mod nav;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use shared::jwt::{Alg, SigningKey};

use crate::store::{self, Database};

/// Where the IdP is and who this node is to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SsoConfig {
    /// The IdP's issuer URL; SSO is off when empty.
    pub issuer: String,
    pub client_id: String,
    #[serde(skip_serializing)]
    pub client_secret: shared::Secret,
    /// Profile changes to the IdP: first retry after this long, doubling up to the maximum.
    pub sync_retry_base_millis: u64,
    pub sync_retry_max_millis: u64,
    pub sync_poll_millis: u64,
    /// A message to the IdP (profile change, sign-out everywhere, new password) not delivered
    /// within this long is given up and shown to the admin.
    pub sync_deadline_minutes: i64,
}

impl Default for SsoConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: shared::Secret::default(),
            sync_retry_base_millis: 1_000,
            sync_retry_max_millis: 60_000,
            sync_poll_millis: 1_000,
            sync_deadline_minutes: 24 * 60,
        }
    }
}

impl SsoConfig {
    pub fn enabled(&self) -> bool {
        !self.issuer.is_empty()
    }
}

/// The node's public keys as its JWKS: the current one and the one before it, so that what was
/// signed just before a rotation still verifies while every instance moves to the new key.
pub async fn published_jwks(db: &Database) -> anyhow::Result<serde_json::Value> {
    let mut keys = Vec::new();
    for row in store::keys::recent(db, 2).await? {
        let alg = Alg::parse(&row.alg)
            .ok_or_else(|| anyhow::anyhow!("unknown key algorithm {}", row.alg))?;
        let key = SigningKey::from_pem(&row.kid, alg, &row.private_pem)?;
        keys.push(serde_json::Value::Object(key.public_jwk().as_ref().clone()));
    }
    Ok(serde_json::json!({ "keys": keys }))
}

/// Makes a new signing key; each instance signs with it from its next start, and the previous
/// one stays published meanwhile.
pub async fn rotate_node_key(db: &Database) -> anyhow::Result<String> {
    let (key, pem) = tokio::task::spawn_blocking(|| SigningKey::generate(Alg::ES256)).await??;
    // Dated after the newest, even within one second, so "newest" is never in doubt.
    let at = match store::keys::newest_created_at(db).await? {
        Some(newest) => store::now().max(newest + 1),
        None => store::now(),
    };
    store::keys::insert(db, &key.kid, key.alg.name(), &pem, at).await?;
    Ok(key.kid)
}

/// The node's signing key, made on first start.
pub async fn node_key(db: &Database) -> anyhow::Result<Arc<SigningKey>> {
    if let Some(row) = store::keys::newest(db).await? {
        let alg = Alg::parse(&row.alg)
            .ok_or_else(|| anyhow::anyhow!("unknown key algorithm {}", row.alg))?;
        return Ok(Arc::new(SigningKey::from_pem(
            &row.kid,
            alg,
            &row.private_pem,
        )?));
    }
    let (key, pem) = tokio::task::spawn_blocking(|| SigningKey::generate(Alg::ES256)).await??;
    store::keys::insert(db, &key.kid, key.alg.name(), &pem, store::now()).await?;
    Ok(Arc::new(key))
}
