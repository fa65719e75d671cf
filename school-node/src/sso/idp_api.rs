//! The node's calls to the IdP's federation API, each with a fresh JWT signed by the node's key:
//! profile sync (DESIGN §4.5) — changes made here go from the `profile_changes` outbox, oldest
//! first, retried with backoff until the IdP has them, and updates from the IdP are applied
//! only when newer than what the account has — removing a link, and signing a person out
//! everywhere.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::federation::{
    CallClaims, FED_JWT, PasswordChanged, SignOutAnswer, SignOutRequest, UnlinkAnswer,
    UnlinkRequest, path,
};
use shared::jwt::{SigningKey, to_claims};
use shared::profile::{ProfileChange, ProfileChanges, ProfileUpdate};
use tokio::sync::Notify;

use crate::store::accounts::{self as store, Synced};
use crate::store::{Database, StoreError, profile_changes};
use shared::retry::{Backoff, now_millis, spawn_rounds};

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

    /// One call to the IdP, and its answer.
    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        let mut request = self.http.post(self.url(path));
        if let Some(id) = shared::observe::current_request_id() {
            request = request.header(shared::observe::REQUEST_ID_HEADER, id);
        }
        Ok(request
            .bearer_auth(self.bearer()?)
            .json(body)
            .timeout(Duration::from_secs(5))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }

    pub fn spawn(self, shutdown: shared::retry::Shutdown) -> tokio::task::JoinHandle<()> {
        let (poll, wake) = (self.poll_millis, self.wake.clone());
        spawn_rounds("profile sync", poll, wake, shutdown, move || {
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

    /// Sends the waiting changes in order and stops at the first that fails, so none overtakes
    /// an earlier one. Returns how many were delivered.
    pub async fn deliver_due(&self) -> anyhow::Result<usize> {
        let mut delivered = 0;
        for change in profile_changes::due(&self.db, now_millis(), 100).await? {
            let changes: ProfileChanges = serde_json::from_str(&change.changes).unwrap_or_default();
            let message = ProfileChange {
                sub: change.account_id.as_str().into(),
                changes,
            };
            let outcome = self
                .http
                .post(self.url(path::PROFILE_CHANGES))
                .bearer_auth(self.bearer()?)
                .json(&message)
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            let error = match outcome {
                Ok(r) if r.status().is_success() => {
                    profile_changes::delivered(&self.db, change.seq, now_millis()).await?;
                    delivered += 1;
                    continue;
                }
                Ok(r) => format!("answered {}", r.status()),
                Err(e) => format!("{e}"),
            };
            let next = now_millis() + self.backoff(change.attempts);
            tracing::info!(attempts = change.attempts + 1, %error, "profile change not delivered");
            profile_changes::failed(&self.db, change.seq, next, &error).await?;
            break;
        }
        Ok(delivered)
    }

    /// Asks the IdP to end every session of the person with this account, here and at every
    /// linked institution (back-channel logout to each); returns how many ended.
    pub async fn sign_out_everywhere(&self, sub: &str) -> anyhow::Result<u64> {
        let request = SignOutRequest { sub: sub.into() };
        let answer: SignOutAnswer = self.call(path::SIGN_OUT, &request).await?;
        Ok(answer.sessions)
    }

    /// Tells the IdP that the account's password was set anew: every IdP session holding it
    /// ends, but `keep_sid`; returns how many ended.
    pub async fn password_changed(&self, sub: &str, keep_sid: Option<&str>) -> anyhow::Result<u64> {
        let request = PasswordChanged {
            sub: sub.into(),
            keep_sid: keep_sid.map(Into::into),
        };
        let answer: SignOutAnswer = self.call(path::PASSWORD_CHANGED, &request).await?;
        Ok(answer.sessions)
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
pub async fn apply_update(db: &Database, update: &ProfileUpdate) -> Result<Synced, UpdateError> {
    // The typed fields were checked as the message was read; the names are checked here.
    let p = &update.profile;
    if p.first_name.trim().is_empty() || p.last_name.trim().is_empty() {
        return Err(UpdateError::Invalid("a name is empty"));
    }
    match store::apply_synced(db, update.sub.as_str(), p, update.version).await {
        Ok(Synced::NotFound) => Err(UpdateError::NotFound),
        Ok(outcome) => Ok(outcome),
        Err(StoreError::Conflict) => Err(UpdateError::Conflict),
        Err(StoreError::Database(e)) => Err(UpdateError::Internal(e.into())),
    }
}
