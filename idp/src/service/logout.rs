//! Back-channel logout (OIDC Back-Channel Logout 1.0) from a durable outbox: when an IdP session
//! ends, every client that got tokens in it is told, concurrently; a failed delivery (transport
//! error or 5xx) is retried with backoff, each attempt with a freshly minted logout token (new
//! jti, short exp), until it succeeds or the deadline passes. Outcomes stay recorded.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use shared::jwt::Alg;
use tokio::sync::Notify;

use super::clients::Registry;
use super::keys::KeyRing;
use super::sessions::{IdpSession, random_token};
use crate::store::{Database, logout_outbox};

#[derive(Clone)]
pub struct LogoutDelivery {
    pub db: Database,
    pub keys: KeyRing,
    pub clients: Registry,
    pub http: reqwest::Client,
    pub issuer: String,
    pub retry_base_millis: u64,
    pub retry_max_millis: u64,
    pub deadline_millis: i64,
    pub poll_millis: u64,
    pub wake: Arc<Notify>,
}

/// How long a delivery is held by one worker before another may try it.
const CLAIM_MILLIS: i64 = 30_000;

pub fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl LogoutDelivery {
    /// Queues a logout for every participant of an ending session; returns the institutions told.
    pub async fn announce(&self, session: &IdpSession) -> anyhow::Result<Vec<String>> {
        let at = now_millis();
        let mut told = Vec::new();
        for client_id in &session.participants {
            let Some(client) = self.clients.get(client_id) else {
                continue;
            };
            let Some(account) = session.accounts.get(&client.node_id) else {
                continue;
            };
            if client.backchannel_logout_uri.is_some() {
                logout_outbox::enqueue(
                    &self.db,
                    client_id,
                    &session.sid,
                    &account.sub,
                    at,
                    at + self.deadline_millis,
                )
                .await?;
            }
            told.push(client.name.clone());
        }
        self.wake.notify_one();
        Ok(told)
    }

    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let poll = Duration::from_millis(self.poll_millis.max(10));
            loop {
                if let Err(e) = self.deliver_due().await {
                    tracing::warn!(error = %format!("{e:#}"), "logout delivery round failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = self.wake.notified() => {}
                }
            }
        })
    }

    fn backoff(&self, attempts: i32) -> i64 {
        let exponent = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
        let wait = self
            .retry_base_millis
            .saturating_mul(1u64 << exponent)
            .min(self.retry_max_millis);
        i64::try_from(wait).unwrap_or(i64::MAX)
    }

    /// Delivers every due logout at once; returns how many were delivered.
    pub async fn deliver_due(&self) -> anyhow::Result<usize> {
        let at = now_millis();
        let mut claimed = Vec::new();
        for delivery in logout_outbox::due(&self.db, at, 500).await? {
            if logout_outbox::claim(&self.db, &delivery.id, at, at + CLAIM_MILLIS).await? {
                claimed.push(delivery);
            }
        }
        let attempts = claimed.into_iter().map(|d| {
            let this = self.clone();
            tokio::spawn(async move { this.attempt(d).await })
        });
        let mut delivered = 0;
        for task in attempts.collect::<Vec<_>>() {
            if task.await.unwrap_or(Ok(false)).unwrap_or(false) {
                delivered += 1;
            }
        }
        Ok(delivered)
    }

    async fn attempt(&self, d: logout_outbox::Delivery) -> anyhow::Result<bool> {
        let Some(client) = self.clients.get(&d.client_id) else {
            logout_outbox::failed(
                &self.db,
                &d.id,
                now_millis(),
                None,
                "the client is no longer registered",
            )
            .await?;
            return Ok(false);
        };
        let Some(uri) = client.backchannel_logout_uri.clone() else {
            logout_outbox::failed(
                &self.db,
                &d.id,
                now_millis(),
                None,
                "the client has no back-channel URI",
            )
            .await?;
            return Ok(false);
        };
        let now = shared::jwt::now();
        let claims = json!({
            "iss": self.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + 120,
            "jti": random_token(),
            "sid": d.sid,
            "sub": d.sub,
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        });
        let token = self.keys.sign(
            Alg::ES256,
            "logout+jwt",
            claims.as_object().expect("an object"),
        )?;
        let outcome = self
            .http
            .post(&uri)
            .form(&[("logout_token", token)])
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let at = now_millis();
        let error = match outcome {
            Ok(r) if r.status().is_success() => {
                logout_outbox::delivered(&self.db, &d.id, at).await?;
                return Ok(true);
            }
            // The client read the token and refused it: sending it again will not help.
            Ok(r) if r.status().is_client_error() => {
                logout_outbox::failed(
                    &self.db,
                    &d.id,
                    at,
                    None,
                    &format!("refused with {}", r.status()),
                )
                .await?;
                return Ok(false);
            }
            Ok(r) => format!("answered {}", r.status()),
            Err(e) => format!("{e}"),
        };
        let next = at + self.backoff(d.attempts);
        let next = (next <= d.deadline).then_some(next);
        tracing::info!(client = %d.client_id, attempts = d.attempts + 1, %error, retry = next.is_some(), "logout not delivered");
        logout_outbox::failed(&self.db, &d.id, at, next, &error).await?;
        Ok(false)
    }
}
