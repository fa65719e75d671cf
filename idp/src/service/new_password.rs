//! A temporary password is never enough at an application (from `create-admin`, an approval
//! or an admin's reset): a person who signs in with one on the IdP's page chooses a new one
//! there, the node sets it over the federation API, and only then does the waiting request go
//! on. The step is bound to the browser, like every waiting step.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::federation::{SetPassword, SetPasswordOutcome};
use shared::secret::{PasswordProblem, check_new_password};
use shared::{ClientId, Secret};

use super::clients::Client;
use super::sessions::SignedInAccount;
use super::signin::{Continue, PENDING_MINUTES, SignIn, SignInError};
use super::{is_token, random_token};

fn key(id: &str) -> String {
    format!("new-password:{id}")
}

/// A person proven by a temporary password, waiting to choose a new one.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingNewPassword {
    /// The waiting sign-in this goes on to.
    login: String,
    node_id: ClientId,
    account: SignedInAccount,
    browser: String,
}

/// Why a new password was not taken; the page is shown again with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewPasswordRefusal {
    Problem(PasswordProblem),
    /// The node could not be asked, or no longer has a temporary password to replace.
    Unavailable,
}

impl SignIn {
    /// Stores the step and returns its page's address.
    pub(super) async fn new_password_step(
        &self,
        login: &str,
        node_id: &ClientId,
        account: SignedInAccount,
        browser: &str,
    ) -> anyhow::Result<String> {
        let id = random_token();
        let pending = PendingNewPassword {
            login: login.to_owned(),
            node_id: node_id.clone(),
            account,
            browser: browser.to_owned(),
        };
        self.pending
            .store()
            .set(
                &key(&id),
                &serde_json::to_vec(&pending)?,
                Duration::from_secs(PENDING_MINUTES * 60),
            )
            .await?;
        Ok(format!("/login/password?c={id}"))
    }

    async fn new_password_pending(
        &self,
        id: &str,
        browser: &str,
    ) -> Result<PendingNewPassword, SignInError> {
        if !is_token(id) {
            return Err(SignInError::Expired);
        }
        let pending: PendingNewPassword = match self.pending.store().get(&key(id)).await? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(anyhow::Error::from)?,
            None => return Err(SignInError::Expired),
        };
        if pending.browser != browser {
            return Err(SignInError::OtherBrowser);
        }
        Ok(pending)
    }

    /// The institution whose page asks for the new password.
    pub async fn new_password_view(
        &self,
        id: &str,
        browser: &str,
    ) -> Result<Arc<Client>, SignInError> {
        let pending = self.new_password_pending(id, browser).await?;
        self.clients
            .get(&pending.node_id)
            .ok_or(SignInError::UnknownClient)
    }

    /// The person chose `password` (typed twice): the node sets it, and the sign-in goes on.
    pub async fn choose_password(
        &self,
        id: &str,
        password: Secret,
        again: &Secret,
        cookie: Option<&str>,
        browser: &str,
    ) -> Result<Result<Continue, (Arc<Client>, NewPasswordRefusal)>, SignInError> {
        let pending = self.new_password_pending(id, browser).await?;
        let node = self
            .clients
            .get(&pending.node_id)
            .ok_or(SignInError::UnknownClient)?;
        if let Err(problem) = check_new_password(password.expose(), again.expose()) {
            return Ok(Err((node, NewPasswordRefusal::Problem(problem))));
        }
        let request = SetPassword {
            sub: pending.account.sub.clone(),
            password,
        };
        match self.nodes.set_password(&node, &request).await {
            Ok(SetPasswordOutcome::Set) => {}
            Ok(SetPasswordOutcome::Refused { problem }) => {
                return Ok(Err((node, NewPasswordRefusal::Problem(problem))));
            }
            Ok(SetPasswordOutcome::NotTemporary) | Err(_) => {
                return Ok(Err((node, NewPasswordRefusal::Unavailable)));
            }
        }
        // Taken once: of two requests that set it, only one goes on.
        if self.pending.store().take(&key(id)).await?.is_none() {
            return Err(SignInError::Expired);
        }
        let mut account = pending.account;
        account
            .claims
            .insert("must_change_password".into(), false.into());
        Ok(Ok(self
            .proven(&pending.login, &pending.node_id, account, cookie, browser)
            .await?))
    }
}
