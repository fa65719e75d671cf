//! IdP sessions: who proved which account at which institution, kept in the ephemeral store
//! (memory, or Redis so that every IdP instance sees them). The cookie holds a random key; the
//! `sid` that tokens carry is a separate random value.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::RngExt;
use serde::{Deserialize, Serialize};
use shared::ephemeral::Ephemeral;
use shared::jwt::Claims;

pub const COOKIE: &str = "idp_session";

/// An account at one node that the person proved in this session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedInAccount {
    pub sub: String,
    pub claims: Claims,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
    /// Set when the account was opened through a link from the account at this node, rather
    /// than proven itself; such an account goes when the link does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_link: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdpSession {
    pub sid: String,
    pub created_at: i64,
    /// By client id.
    pub accounts: BTreeMap<String, SignedInAccount>,
    /// Clients that received tokens in this session (the logout fan-out's list).
    pub participants: BTreeSet<String>,
}

pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl IdpSession {
    pub fn new(now: i64) -> Self {
        Self {
            sid: random_token()[..32].to_owned(),
            created_at: now,
            accounts: BTreeMap::new(),
            participants: BTreeSet::new(),
        }
    }
}

#[derive(Clone)]
pub struct Sessions {
    store: Ephemeral,
    idle: Duration,
    max_seconds: i64,
}

fn key(cookie: &str) -> String {
    format!("session:{cookie}")
}

impl Sessions {
    pub fn new(store: Ephemeral, idle_minutes: i64, max_hours: i64) -> Self {
        let idle = Duration::from_secs(u64::try_from(idle_minutes.max(1)).unwrap_or(60) * 60);
        Self {
            store,
            idle,
            max_seconds: max_hours * 3600,
        }
    }

    /// The live session behind a cookie value; an expired one is gone.
    pub async fn load(&self, cookie: &str, now: i64) -> anyhow::Result<Option<IdpSession>> {
        if cookie.len() != 64 || !cookie.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(bytes) = self.store.get(&key(cookie)).await? else {
            return Ok(None);
        };
        let Ok(session) = serde_json::from_slice::<IdpSession>(&bytes) else {
            return Ok(None);
        };
        if now - session.created_at > self.max_seconds {
            self.store.delete(&key(cookie)).await?;
            return Ok(None);
        }
        Ok(Some(session))
    }

    /// Saves the session and restarts its idle timer.
    pub async fn save(&self, cookie: &str, session: &IdpSession) -> anyhow::Result<()> {
        self.store
            .set(&key(cookie), &serde_json::to_vec(session)?, self.idle)
            .await
    }

    pub async fn delete(&self, cookie: &str) -> anyhow::Result<()> {
        self.store.delete(&key(cookie)).await
    }
}
