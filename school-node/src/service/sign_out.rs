//! Ending a person's sessions beyond the one in front of us: an admin's "Logi välja kõikjalt",
//! a closed account, a new password. Sessions here end at once on every instance (the shared
//! session store); what the IdP must do — end its sessions and tell every linked institution —
//! is queued in the durable outbox and carried out when the IdP answers.

use shared::ephemeral::Ephemeral;

use super::{Result, ServiceError};
use crate::sso::idp_api::IdpApi;
use crate::sso::logout;
use crate::store::Database;
use crate::store::accounts as store;
use crate::store::idp_outbox::{self, MessageKind};

pub struct SignOuts<'a> {
    pub db: &'a Database,
    pub ephemeral: &'a Ephemeral,
    /// The IdP, when single sign-on is configured.
    pub idp: Option<&'a IdpApi>,
}

/// How far the IdP has got with the last "sign out everywhere" of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignOutState {
    /// Waiting for the IdP since then (milliseconds).
    Queued { since: i64 },
    /// The IdP ended this many of its sessions.
    Done { sessions: u64, at: i64 },
    /// The IdP refused it, or did not answer before the deadline.
    GivenUp { why: String },
}

impl SignOuts<'_> {
    /// "Logi välja kõikjalt": every session of the account, here, at the IdP and at every
    /// institution linked to it.
    pub async fn everywhere(&self, id: &str) -> Result<()> {
        if store::by_id(self.db, id).await?.is_none() {
            return Err(ServiceError::NotFound);
        }
        logout::end_sessions_of_sub(self.ephemeral, id).await?;
        self.queue(MessageKind::SignOut, id, "{}".into()).await
    }

    /// Closes the account and signs it out everywhere; the IdP's part is queued with the
    /// closing, in one transaction.
    pub async fn close_account(&self, id: &str, event: &shared::audit::Event) -> Result<()> {
        if !store::set_disabled(self.db, id, true, self.idp.is_some(), event).await? {
            return Err(ServiceError::NotFound);
        }
        logout::end_sessions_of_sub(self.ephemeral, id).await?;
        self.wake();
        Ok(())
    }

    /// A new password was set for the account: its other sessions end here and everywhere.
    /// `keep_session` (this node's session id) and `keep_sid` (its IdP session) are those of
    /// the person who set it, who stays signed in.
    pub async fn password_changed(
        &self,
        id: &str,
        keep_session: Option<&str>,
        keep_sid: Option<String>,
    ) -> Result<()> {
        logout::end_sessions_of_sub_but(self.ephemeral, id, keep_session).await?;
        let payload = serde_json::to_string(&keep_sid).map_err(anyhow::Error::from)?;
        self.queue(MessageKind::PasswordChanged, id, payload).await
    }

    async fn queue(&self, kind: MessageKind, id: &str, payload: String) -> Result<()> {
        if self.idp.is_none() {
            return Ok(());
        }
        let at = shared::retry::now_millis();
        idp_outbox::enqueue(self.db, kind, id, payload, at).await?;
        self.wake();
        Ok(())
    }

    fn wake(&self) {
        if let Some(idp) = self.idp {
            idp.wake.notify_one();
        }
    }

    /// Where the account's last "sign out everywhere" is, if it ever had one.
    pub async fn state(&self, id: &str) -> Result<Option<SignOutState>> {
        let Some(m) = idp_outbox::latest(self.db, id, MessageKind::SignOut).await? else {
            return Ok(None);
        };
        Ok(Some(match (m.delivered_at, m.given_up_at) {
            (Some(at), _) => SignOutState::Done {
                sessions: m
                    .result
                    .as_deref()
                    .and_then(|r| serde_json::from_str::<shared::federation::SignOutAnswer>(r).ok())
                    .map_or(0, |a| a.sessions),
                at,
            },
            (None, Some(_)) => SignOutState::GivenUp {
                why: m.last_error.unwrap_or_default(),
            },
            (None, None) => SignOutState::Queued {
                since: m.created_at,
            },
        }))
    }
}
