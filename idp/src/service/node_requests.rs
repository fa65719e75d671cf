//! Calls the school nodes make to the IdP (`shared::federation`): each carries a fresh JWT
//! signed by a registered node, checked here once; then profile changes made at the node,
//! removing a link from its profile page, and signing a person out everywhere.

use std::sync::Arc;
use std::time::Duration;

use shared::ephemeral::Ephemeral;
use shared::federation::{
    PasswordChanged, ProfileChangeAnswer, REPLAY_SECONDS, SignOutAnswer, SignOutRequest,
    UnlinkAnswer, UnlinkRequest, check_token,
};
use shared::profile::ProfileChange;
use shared::{AccountId, Clock};

use super::clients::{Client, Registry, unverified_claim};
use super::links::Links;
use super::logout::Logout;
use crate::store::persons::{Link, NodeChange};

#[derive(Debug, thiserror::Error)]
pub enum NodeRequestError {
    /// Not a fresh call signed by a registered node (the cause is for the log only).
    #[error("the call is not authenticated: {0}")]
    Unauthenticated(String),
    /// The message does not fit (a value that is not valid for its field).
    #[error("the request is not valid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

#[derive(Clone)]
pub struct NodeRequests {
    pub clients: Registry,
    pub issuer: String,
    /// Remembers the calls' `jti`s against replay.
    pub replay: Ephemeral,
    pub links: Links,
    pub logout: Logout,
    pub clock: Clock,
}

impl NodeRequests {
    /// The calling node, once its bearer token is checked: signed by a registered node's key,
    /// typ `fed+jwt`, iss the node, aud this IdP, fresh, and used once.
    pub async fn authenticate(&self, bearer: &str) -> Result<Arc<Client>, NodeRequestError> {
        let refused = |e: &dyn std::fmt::Display| NodeRequestError::Unauthenticated(e.to_string());
        let iss = unverified_claim(bearer, "iss").ok_or_else(|| refused(&"malformed token"))?;
        let client = self
            .clients
            .get(&iss)
            .filter(|c| c.node_id == c.client_id)
            .ok_or_else(|| refused(&format!("{iss} is not a registered node")))?;
        let jwks = client
            .jwks
            .as_ref()
            .ok_or_else(|| refused(&"the node has no registered keys"))?;
        let (header, claims) = jwks.verify(bearer).await.map_err(|e| refused(&e))?;
        let call = check_token(&header, &claims, &iss, &self.issuer, self.clock.now())
            .map_err(|e| refused(&e))?;
        let fresh = self
            .replay
            .set_new(
                &format!("fed-jti:{iss}:{}", call.jti),
                b"1",
                Duration::from_secs(REPLAY_SECONDS),
            )
            .await?;
        if !fresh {
            return Err(refused(&"the token was used before"));
        }
        Ok(client)
    }

    /// A node reports changed personal data of one of its accounts.
    pub async fn profile_changes(
        &self,
        node: &Client,
        change: &ProfileChange,
    ) -> Result<ProfileChangeAnswer, NodeRequestError> {
        // Every value must fit its field before anything is stored.
        let mut probe = shared::profile::SharedProfile {
            first_name: "-".into(),
            last_name: "-".into(),
            ..Default::default()
        };
        probe
            .apply(&change.changes)
            .map_err(|e| NodeRequestError::Invalid(e.to_string()))?;
        let from = link(node, &change.sub);
        let version = self
            .links
            .apply_changes(NodeChange {
                from: &from,
                changes: &change.changes,
                language: change.language,
            })
            .await?;
        Ok(ProfileChangeAnswer {
            linked: version.is_some(),
            version,
        })
    }

    /// A node's account asks to be unlinked from its account at another institution.
    pub async fn unlink(
        &self,
        node: &Client,
        request: &UnlinkRequest,
    ) -> Result<UnlinkAnswer, NodeRequestError> {
        let removed = self
            .links
            .unlink(&link(node, &request.sub), &request.client_id)
            .await?;
        Ok(UnlinkAnswer { removed })
    }

    /// A node's admin signs a person out everywhere (or disabled the account).
    pub async fn sign_out(
        &self,
        node: &Client,
        request: &SignOutRequest,
    ) -> Result<SignOutAnswer, NodeRequestError> {
        let made_at = self.made_at(request.made_at);
        let ended = self
            .logout
            .sign_out_everywhere(&node.node_id, &request.sub, made_at)
            .await?;
        Ok(SignOutAnswer {
            sessions: u64::try_from(ended).unwrap_or(u64::MAX),
        })
    }
}

impl NodeRequests {
    /// A node set a new password for one of its accounts.
    pub async fn password_changed(
        &self,
        node: &Client,
        request: &PasswordChanged,
    ) -> Result<SignOutAnswer, NodeRequestError> {
        let ended = self
            .logout
            .password_changed(
                &node.node_id,
                &request.sub,
                request.keep_sid.as_ref(),
                self.made_at(request.made_at),
            )
            .await?;
        Ok(SignOutAnswer {
            sessions: u64::try_from(ended).unwrap_or(u64::MAX),
        })
    }
}

impl NodeRequests {
    /// When a node's event happened: as it says, but never in the future (a node's clock ahead
    /// of ours must not reach sessions begun after the message arrived).
    fn made_at(&self, said: Option<i64>) -> i64 {
        let now = self.clock.now();
        said.map_or(now, |at| at.min(now))
    }
}

fn link(node: &Client, sub: &AccountId) -> Link {
    Link {
        node_id: node.node_id.clone(),
        sub: sub.clone(),
    }
}
