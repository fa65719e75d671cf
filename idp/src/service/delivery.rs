//! Deliveries to the nodes from a durable outbox: back-channel logouts (OIDC Back-Channel Logout
//! 1.0) when an IdP session ends, and profile updates when a linked person's data changes. Due
//! deliveries go out concurrently; a failed one (transport error or 5xx) is retried with backoff,
//! each attempt with a freshly minted token (new jti, short exp), until it succeeds or its
//! deadline passes. Outcomes stay recorded.

use std::sync::Arc;
use std::time::Duration;

use shared::federation::{InstitutionsUpdate, LOGOUT_JWT, LogoutTokenClaims, path};
use shared::jwt::{Alg, to_claims};
use shared::retry::{Backoff, spawn_rounds};
use shared::{AccountId, Clock};
use tokio::sync::Notify;

use super::clients::{Client, Registry};
use super::federation::NodeApi;
use super::links::institutions_of;
use super::random_token;
use super::sessions::IdpSession;
use crate::store::Database;
use crate::store::outbox::{self, NewDelivery, OutboxKind};

#[derive(Clone)]
pub struct Deliveries {
    pub db: Database,
    pub clients: Registry,
    /// Signs the tokens and carries the calls.
    pub nodes: NodeApi,
    pub clock: Clock,
    pub retry_base_millis: u64,
    pub retry_max_millis: u64,
    pub logout_deadline_millis: i64,
    pub profile_deadline_millis: i64,
    pub poll_millis: u64,
    pub wake: Arc<Notify>,
}

/// How long a delivery is held by one worker before another may try it.
const CLAIM_MILLIS: i64 = 30_000;

impl Deliveries {
    /// Queues a logout for every participant of an ending session; returns the institutions told.
    pub async fn announce_logout(&self, session: &IdpSession) -> anyhow::Result<Vec<String>> {
        self.announce_logout_to(session, |_| true).await
    }

    /// Announces the end of the session to the participants `only` picks (the clients of one
    /// institution, when a person signs out of it alone).
    pub async fn announce_logout_to(
        &self,
        session: &IdpSession,
        only: impl Fn(&super::clients::Client) -> bool,
    ) -> anyhow::Result<Vec<String>> {
        let at = self.clock.now_millis();
        let mut told = Vec::new();
        for client_id in &session.participants {
            let Some(client) = self
                .clients
                .get_even_disabled(client_id)
                .filter(|c| only(c))
            else {
                continue;
            };
            let Some(account) = session.accounts.get(&client.node_id) else {
                continue;
            };
            if client.backchannel_logout_uri.is_some() {
                let delivery = NewDelivery {
                    kind: OutboxKind::Logout,
                    client_id: client_id.as_str(),
                    sid: session.sid.as_str(),
                    sub: account.sub.as_str(),
                    payload: None,
                };
                outbox::enqueue(&self.db, &delivery, at, at + self.logout_deadline_millis).await?;
            }
            told.push(client.name.clone());
        }
        self.wake.notify_one();
        Ok(told)
    }

    pub fn spawn(self, shutdown: shared::retry::Shutdown) -> tokio::task::JoinHandle<()> {
        let (poll, wake) = (self.poll_millis, self.wake.clone());
        spawn_rounds("delivery", poll, wake, shutdown, move || {
            let this = self.clone();
            async move { this.deliver_due().await }
        })
    }

    fn backoff(&self, attempts: i32) -> i64 {
        Backoff {
            base_millis: self.retry_base_millis,
            max_millis: self.retry_max_millis,
        }
        .after(attempts)
    }

    /// Delivers every due logout at once; returns how many were delivered.
    pub async fn deliver_due(&self) -> anyhow::Result<usize> {
        let at = self.clock.now_millis();
        let (waiting, oldest) = outbox::depth(&self.db).await?;
        metrics::gauge!("idp_outbox_depth").set(waiting as f64);
        metrics::gauge!("idp_outbox_oldest_age_seconds")
            .set(oldest.map_or(0.0, |o| (at - o).max(0) as f64 / 1_000.0));
        // One statement for the batch: claimed one by one, the last of a fan-out to 100 nodes
        // waited for 99 round trips to the database before it was sent.
        let claimed = outbox::claim_due(&self.db, at, at + CLAIM_MILLIS, 500).await?;
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

    /// Profile updates go out after they are stored; the worker wakes at once.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    async fn attempt(&self, d: outbox::Delivery) -> anyhow::Result<bool> {
        let Some(client) = self.clients.get_even_disabled(&d.client_id) else {
            return self.give_up(&d, "the client is no longer registered").await;
        };
        let outcome = match d.kind() {
            Some(OutboxKind::Logout) => self.send_logout(&client, &d).await,
            Some(OutboxKind::Profile) => {
                let payload = d
                    .payload
                    .clone()
                    .ok_or_else(|| Refused("no payload".into()));
                match payload {
                    Ok(p) => self.send_json(&client, path::PROFILE, p).await,
                    Err(e) => Err(e),
                }
            }
            Some(OutboxKind::Institutions) => self.send_institutions(&client, &d).await,
            None => return self.give_up(&d, &format!("unknown kind {}", d.kind)).await,
        };
        let outcome = match outcome {
            Ok(o) => o,
            Err(Refused(why)) => return self.give_up(&d, &why).await,
        };
        let at = self.clock.now_millis();
        let error = match outcome {
            Ok(r) if r.status().is_success() => {
                metrics::counter!("idp_deliveries_total", "kind" => d.kind.clone(), "outcome" => "delivered")
                    .increment(1);
                outbox::delivered(&self.db, &d.id, at).await?;
                return Ok(true);
            }
            // The node read the message and refused it: sending it again will not help.
            Ok(r) if r.status().is_client_error() => {
                return self
                    .give_up(&d, &format!("refused with {}", r.status()))
                    .await;
            }
            Ok(r) => format!("answered {}", r.status()),
            Err(e) => format!("{e}"),
        };
        let next = at + self.backoff(d.attempts);
        let next = (next <= d.deadline).then_some(next);
        let outcome = if next.is_some() { "retry" } else { "given_up" };
        metrics::counter!("idp_deliveries_total", "kind" => d.kind.clone(), "outcome" => outcome)
            .increment(1);
        tracing::info!(client = %d.client_id, kind = %d.kind, attempts = d.attempts + 1, %error, retry = next.is_some(), "not delivered");
        outbox::failed(&self.db, &d.id, at, next, &error).await?;
        Ok(false)
    }

    async fn give_up(&self, d: &outbox::Delivery, why: &str) -> anyhow::Result<bool> {
        metrics::counter!("idp_deliveries_total", "kind" => d.kind.clone(), "outcome" => "given_up")
            .increment(1);
        outbox::failed(&self.db, &d.id, self.clock.now_millis(), None, why).await?;
        Ok(false)
    }

    async fn send_logout(&self, client: &Client, d: &outbox::Delivery) -> Attempt {
        let Some(uri) = client.backchannel_logout_uri.clone() else {
            return Err(Refused("the client has no back-channel URI".into()));
        };
        let claims = LogoutTokenClaims::new(
            &self.nodes.issuer,
            client.client_id.as_str(),
            self.clock.now(),
            random_token(),
            d.sid.as_str().into(),
            d.sub.as_str().into(),
        );
        let token = to_claims(&claims)
            .and_then(|claims| self.nodes.keys.sign(Alg::ES256, LOGOUT_JWT, &claims))
            .map_err(|e| Refused(format!("cannot sign: {e:#}")))?;
        Ok(self
            .nodes
            .http
            .post(&uri)
            .form(&[("logout_token", token)])
            .timeout(Duration::from_secs(5))
            .send()
            .await)
    }

    /// The account's institutions as they are now, whatever link changes came meanwhile.
    async fn send_institutions(&self, client: &Client, d: &outbox::Delivery) -> Attempt {
        let sub = AccountId::from(d.sub.as_str());
        let node_id = shared::ClientId::from(d.client_id.as_str());
        let institutions = institutions_of(&self.db, &self.clients, &node_id, &sub)
            .await
            .map_err(|e| Refused(format!("cannot read the links: {e:#}")))?;
        let update = InstitutionsUpdate { sub, institutions };
        let body = serde_json::to_string(&update).map_err(|e| Refused(e.to_string()))?;
        self.send_json(client, path::INSTITUTIONS, body).await
    }

    /// A JSON message to the node's federation API, with a fresh bearer token.
    async fn send_json(&self, client: &Client, path: &str, body: String) -> Attempt {
        let url = NodeApi::node_url(client, path).map_err(|e| Refused(format!("{e:#}")))?;
        let (_, bearer) = self
            .nodes
            .bearer(client)
            .map_err(|e| Refused(format!("cannot sign: {e:#}")))?;
        Ok(self
            .nodes
            .http
            .post(url)
            .bearer_auth(bearer)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(Duration::from_secs(5))
            .send()
            .await)
    }

    /// When a profile update queued at `at` is given up.
    pub fn profile_deadline(&self, at: i64) -> i64 {
        at + self.profile_deadline_millis
    }
}

/// A delivery that cannot be made at all, so it is given up at once.
struct Refused(String);

type Attempt = Result<Result<reqwest::Response, reqwest::Error>, Refused>;
