//! The node's calls to the IdP's federation API, each with a fresh JWT signed by the node's key.
//! What must reach the IdP even when it is away — profile changes (DESIGN §4.5), "sign out
//! everywhere", new passwords — goes through the durable `idp_outbox`: claimed by one instance
//! while sent, retried with backoff until `sso.sync_deadline_minutes`, and set aside with the
//! reason when the IdP refuses it, so that nothing later waits behind it. One account's messages
//! keep their order. Removing a link is asked for while the person waits.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::federation::{
    CallClaims, ErrorAnswer, FED_JWT, PasswordChanged, SignOutRequest, UnlinkAnswer, UnlinkRequest,
    path,
};
use shared::jwt::{SigningKey, to_claims};
use shared::profile::{Language, ProfileChange, ProfileChanges, ProfileUpdate};
use tokio::sync::Notify;

use crate::store::accounts::{self as store, Synced};
use crate::store::idp_outbox::{self, Message, MessageKind};
use crate::store::{Database, StoreError};
use shared::retry::{Backoff, now_millis, spawn_rounds};

/// How long one instance holds a message it is sending.
const CLAIM_MILLIS: i64 = 30_000;
/// Delivery rounds run back to back while they make progress (an account's next message
/// becomes due when the one before it is delivered).
const ROUNDS_AT_ONCE: usize = 20;

#[derive(Clone)]
pub struct IdpApi {
    pub db: Database,
    pub http: reqwest::Client,
    pub key: Arc<SigningKey>,
    pub issuer: String,
    pub client_id: String,
    pub retry_base_millis: u64,
    pub retry_max_millis: u64,
    pub poll_millis: u64,
    pub deadline_millis: i64,
    pub wake: Arc<Notify>,
}

/// Why an update from the IdP was not applied.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("the update is not valid: {0}")]
    Invalid(&'static str),
    #[error("no such account")]
    NotFound,
    #[error("another account here has that personal code or e-mail")]
    Conflict,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// What became of one call.
enum Sent {
    /// The IdP did it; its answer.
    Answered(String),
    /// The IdP will never accept this message as it is.
    Refused(String),
    /// Not now: the IdP is away, slow or failing.
    Failed(String),
}

impl IdpApi {
    fn bearer(&self) -> anyhow::Result<String> {
        let call = CallClaims::new(
            &self.client_id,
            &self.issuer,
            shared::jwt::now(),
            uuid::Uuid::new_v4().to_string(),
        );
        self.key.sign(FED_JWT, &to_claims(&call)?)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }

    async fn send(&self, path: &str, body: &impl Serialize) -> Sent {
        let bearer = match self.bearer() {
            Ok(b) => b,
            Err(e) => return Sent::Failed(format!("cannot sign the call: {e:#}")),
        };
        let mut request = self.http.post(self.url(path));
        if let Some(id) = shared::observe::current_request_id() {
            request = request.header(shared::observe::REQUEST_ID_HEADER, id);
        }
        let response = match request
            .bearer_auth(bearer)
            .json(body)
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Sent::Failed(format!("{e}")),
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Sent::Answered(text);
        }
        // A message the IdP found wrong stays wrong; anything else may pass later.
        if matches!(status.as_u16(), 400 | 404 | 409 | 413 | 422) {
            let why = serde_json::from_str::<ErrorAnswer>(&text)
                .ok()
                .and_then(|a| a.error_description.or(Some(a.error)))
                .unwrap_or_default();
            return Sent::Refused(format!("refused with {status}: {why}"));
        }
        Sent::Failed(format!("answered {status}"))
    }

    /// One call to the IdP while someone waits, and its answer.
    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        match self.send(path, body).await {
            Sent::Answered(text) => Ok(serde_json::from_str(&text)?),
            Sent::Refused(why) | Sent::Failed(why) => anyhow::bail!(why),
        }
    }

    pub fn spawn(self, shutdown: shared::retry::Shutdown) -> tokio::task::JoinHandle<()> {
        let (poll, wake) = (self.poll_millis, self.wake.clone());
        spawn_rounds("messages to the IdP", poll, wake, shutdown, move || {
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

    /// Sends what is due, each account's messages in order; returns how many were delivered.
    pub async fn deliver_due(&self) -> anyhow::Result<usize> {
        let (waiting, oldest) = idp_outbox::waiting(&self.db).await?;
        metrics::gauge!("node_idp_outbox_depth").set(waiting as f64);
        metrics::gauge!("node_idp_outbox_oldest_age_seconds")
            .set(oldest.map_or(0.0, |o| (now_millis() - o).max(0) as f64 / 1_000.0));
        let mut delivered = 0;
        for _ in 0..ROUNDS_AT_ONCE {
            let now = now_millis();
            let mut progressed = false;
            for message in idp_outbox::due(&self.db, now, 200).await? {
                if idp_outbox::claim(&self.db, message.seq, now, now + CLAIM_MILLIS).await?
                    && self.deliver(&message).await?
                {
                    delivered += 1;
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        Ok(delivered)
    }

    /// Sends one claimed message and records what became of it; true when delivered.
    async fn deliver(&self, message: &Message) -> anyhow::Result<bool> {
        let kind = MessageKind::parse(&message.kind);
        let sub = message.account_id.as_str().into();
        let made_at = Some(message.made_at / 1000);
        let sent = match kind {
            Some(MessageKind::Profile) => {
                match serde_json::from_str::<ProfileChanges>(&message.payload) {
                    Ok(changes) => {
                        let change = ProfileChange {
                            sub,
                            changes,
                            language: None,
                        };
                        self.send(path::PROFILE_CHANGES, &change).await
                    }
                    Err(e) => Sent::Refused(format!("the stored change cannot be read: {e}")),
                }
            }
            Some(MessageKind::Language) => match Language::parse(&message.payload) {
                Some(language) => {
                    let change = ProfileChange {
                        sub,
                        changes: ProfileChanges::new(),
                        language: Some(language),
                    };
                    self.send(path::PROFILE_CHANGES, &change).await
                }
                None => Sent::Refused(format!("no language: {}", message.payload)),
            },
            Some(MessageKind::SignOut) => {
                self.send(path::SIGN_OUT, &SignOutRequest { sub, made_at })
                    .await
            }
            Some(MessageKind::PasswordChanged) => {
                let keep_sid = serde_json::from_str::<Option<String>>(&message.payload)
                    .ok()
                    .flatten()
                    .map(Into::into);
                let message = PasswordChanged {
                    sub,
                    keep_sid,
                    made_at,
                };
                self.send(path::PASSWORD_CHANGED, &message).await
            }
            None => Sent::Refused(format!("unknown kind {}", message.kind)),
        };
        let now = now_millis();
        let (outcome, delivered) = match sent {
            Sent::Answered(answer) => {
                let answer: String = answer.chars().take(500).collect();
                idp_outbox::delivered(&self.db, message.seq, now, &answer).await?;
                ("delivered", true)
            }
            Sent::Refused(why) => {
                tracing::warn!(seq = message.seq, kind = %message.kind, %why, "the IdP refused a message: set aside");
                idp_outbox::give_up(&self.db, message.seq, now, &why).await?;
                ("refused", false)
            }
            Sent::Failed(error) if now >= message.created_at + self.deadline_millis => {
                let why = format!("past its deadline; last: {error}");
                tracing::warn!(seq = message.seq, kind = %message.kind, %why, "a message to the IdP was given up");
                idp_outbox::give_up(&self.db, message.seq, now, &why).await?;
                ("expired", false)
            }
            Sent::Failed(error) => {
                let next = now + self.backoff(message.attempts);
                tracing::info!(seq = message.seq, attempts = message.attempts + 1, %error, "a message to the IdP will be tried again");
                idp_outbox::failed(&self.db, message.seq, next, &error).await?;
                ("failed", false)
            }
        };
        metrics::counter!("node_idp_messages_total", "kind" => message.kind.clone(), "outcome" => outcome)
            .increment(1);
        Ok(delivered)
    }

    /// Asks the IdP to remove the link from account `sub` to its account at `client_id`.
    pub async fn unlink(&self, sub: &str, client_id: &str) -> anyhow::Result<bool> {
        let request = UnlinkRequest {
            sub: sub.into(),
            client_id: client_id.into(),
        };
        let answer: UnlinkAnswer = self.call(path::UNLINK, &request).await?;
        Ok(answer.removed)
    }
}

/// Applies the IdP's version of a linked account's personal data.
pub async fn apply_update(
    db: &Database,
    audit: &crate::service::audit::Audit,
    update: &ProfileUpdate,
) -> Result<Synced, UpdateError> {
    // The typed fields were checked as the message was read; the names are checked here.
    let p = &update.profile;
    if p.first_name.trim().is_empty() || p.last_name.trim().is_empty() {
        return Err(UpdateError::Invalid("a name is empty"));
    }
    // Changed at another institution (an older IdP does not say which): the person sees who.
    let actor = match &update.origin {
        Some(o) => shared::audit::Actor::institution(&o.client_id, Some(&o.name), Some("sync")),
        None => shared::audit::Actor::of(shared::audit::ActorKind::Institution),
    };
    let event = audit.event(
        shared::audit::kind::PROFILE_CHANGED,
        actor,
        update.sub.as_str(),
    );
    let synced = store::SyncedUpdate {
        data: p,
        version: update.version,
        language: update.language,
    };
    match store::apply_synced(db, update.sub.as_str(), synced, event).await {
        Ok(Synced::NotFound) => Err(UpdateError::NotFound),
        Ok(outcome) => Ok(outcome),
        Err(StoreError::Conflict) => Err(UpdateError::Conflict),
        Err(StoreError::Database(e)) => Err(UpdateError::Internal(e.into())),
    }
}
