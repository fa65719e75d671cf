//! Signing in on the IdP's page: the waiting sign-in (an authorization request, or proving an
//! account before linking), the password checked by the institution's node, and what follows
//! once an account is proven by password or eID: it joins the person's IdP session under a
//! fresh cookie and the waiting request goes on.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::ephemeral::Ephemeral;
use shared::federation::PasswordCheck;
use shared::{ClientId, Clock, Secret};

use super::authorize::Authorizer;
use super::clients::{Client, Registry};
use super::federation::{CheckOutcome, NodeApi};
use super::sessions::{Sessions, SignedInAccount};
use super::throttle::AddressThrottle;
use super::{is_token, random_token};
use crate::oidc::acr::Acr;
use crate::oidc::request::AuthorizeRequest;
use shared::audit::{Actor, ActorKind, Event, kind};

/// How long a sign-in page stays valid.
pub const PENDING_MINUTES: u64 = 15;

/// A sign-in waiting for the person.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub purpose: Purpose,
    /// The browser that began it (`Browser::binding`): no other may finish it.
    #[serde(default)]
    pub browser: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Purpose {
    Authorize(AuthorizeRequest),
    /// Linking the account at `from` to one at `to`; the sign-in is at `to`.
    Link {
        from: ClientId,
        to: ClientId,
        ui_locales: Option<String>,
    },
}

impl PendingLogin {
    /// The client whose institution the sign-in page is for.
    pub fn client_id(&self) -> &ClientId {
        match &self.purpose {
            Purpose::Authorize(r) => &r.client_id,
            Purpose::Link { to, .. } => to,
        }
    }

    pub fn ui_locales(&self) -> Option<&str> {
        match &self.purpose {
            Purpose::Authorize(r) => r.ui_locales.as_deref(),
            Purpose::Link { ui_locales, .. } => ui_locales.as_deref(),
        }
    }

    pub fn login_hint(&self) -> Option<&str> {
        match &self.purpose {
            Purpose::Authorize(r) => r.login_hint.as_deref(),
            Purpose::Link { .. } => None,
        }
    }
}

/// The waiting sign-ins, in the ephemeral store under a random id (`/login?r=<id>`).
#[derive(Clone)]
pub struct PendingLogins {
    store: Ephemeral,
}

fn pending_key(id: &str) -> String {
    format!("authz:{id}")
}

impl PendingLogins {
    pub fn new(store: Ephemeral) -> Self {
        Self { store }
    }

    /// Stores a waiting sign-in and returns its page's address.
    pub async fn begin(&self, purpose: Purpose, browser: &str) -> anyhow::Result<String> {
        let id = random_token();
        let pending = PendingLogin {
            purpose,
            browser: browser.to_owned(),
        };
        self.store
            .set(
                &pending_key(&id),
                &serde_json::to_vec(&pending)?,
                Duration::from_secs(PENDING_MINUTES * 60),
            )
            .await?;
        Ok(format!("/login?r={id}"))
    }

    /// The store the waiting steps of a sign-in live in.
    pub(super) fn store(&self) -> &Ephemeral {
        &self.store
    }

    /// The waiting sign-in behind `id`, left in place (its page may be shown again).
    pub async fn get(&self, id: &str) -> anyhow::Result<Option<PendingLogin>> {
        if !is_token(id) {
            return Ok(None);
        }
        let bytes = self.store.get(&pending_key(id)).await?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Takes the waiting sign-in once: of two requests that finish it, only one goes on.
    pub async fn take(&self, id: &str) -> anyhow::Result<Option<PendingLogin>> {
        if !is_token(id) {
            return Ok(None);
        }
        let bytes = self.store.take(&pending_key(id)).await?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }
}

/// What the sign-in page shows for a waiting sign-in.
pub struct LoginView {
    pub pending: PendingLogin,
    pub institution: std::sync::Arc<Client>,
    /// The person has an IdP session, but no account here linked to theirs.
    pub signed_in_elsewhere: bool,
}

/// Where the browser goes once an account is proven, and the session cookie it now carries.
#[derive(Debug)]
pub struct Continue {
    pub cookie: String,
    pub location: String,
}

/// What a password sign-in led to.
pub enum PasswordResult {
    /// The account is proven: on to the waiting request.
    Continue(Continue),
    /// The page again, with why.
    Refused(Box<LoginView>, PasswordRefusal),
    /// The password was temporary: a new one is chosen first, on the page at this address.
    NewPasswordFirst(String),
}

/// Why a password sign-in did not go on; the page is shown again with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRefusal {
    Invalid,
    Ambiguous,
    Throttled,
    Unavailable,
}

#[derive(Debug)]
pub enum SignInError {
    /// The waiting sign-in has expired, was finished, or never was.
    Expired,
    /// The waiting sign-in was begun in another browser.
    OtherBrowser,
    UnknownClient,
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for SignInError {
    fn from(e: anyhow::Error) -> Self {
        SignInError::Internal(e)
    }
}

fn must_change_password(account: &SignedInAccount) -> bool {
    account
        .claims
        .get("must_change_password")
        .and_then(serde_json::Value::as_bool)
        == Some(true)
}

#[derive(Clone)]
pub struct SignIn {
    /// Audit events (the person's data tracker).
    pub audit: shared::audit::Recorder,
    pub pending: PendingLogins,
    pub sessions: Sessions,
    pub clients: Registry,
    pub nodes: NodeApi,
    pub authorizer: Authorizer,
    pub throttle: AddressThrottle,
    pub clock: Clock,
}

impl SignIn {
    /// The sign-in page for waiting sign-in `id`.
    pub async fn view(&self, id: &str, cookie: Option<&str>) -> Result<LoginView, SignInError> {
        let pending = self.pending.get(id).await?.ok_or(SignInError::Expired)?;
        let institution = self
            .clients
            .get(pending.client_id())
            .ok_or(SignInError::UnknownClient)?;
        let signed_in_elsewhere = match (&pending.purpose, cookie) {
            (Purpose::Authorize(_), Some(cookie)) => self
                .sessions
                .load(cookie)
                .await?
                .is_some_and(|s| !s.accounts.is_empty()),
            _ => false,
        };
        Ok(LoginView {
            pending,
            institution,
            signed_in_elsewhere,
        })
    }

    /// Checks a password at the node whose accounts sign in to the waiting sign-in's client.
    pub async fn with_password(
        &self,
        id: &str,
        username: &str,
        password: Secret,
        client_ip: std::net::IpAddr,
        cookie: Option<&str>,
        browser: &str,
    ) -> Result<PasswordResult, SignInError> {
        let view = self.view(id, None).await?;
        if !self.throttle.admit(client_ip).await? {
            metrics::counter!("idp_throttled_total").increment(1);
            return Ok(PasswordResult::Refused(
                Box::new(view),
                PasswordRefusal::Throttled,
            ));
        }
        let check = PasswordCheck {
            username: username.to_owned(),
            password,
            client_ip: client_ip.to_string(),
        };
        let node_id = view.institution.node_id.clone();
        let outcome = match self.clients.get(&node_id) {
            Some(node) => self.nodes.check_password(&node, &check).await,
            None => CheckOutcome::Unavailable,
        };
        let label = match &outcome {
            CheckOutcome::SignedIn { .. } => "ok",
            CheckOutcome::Invalid => "invalid",
            CheckOutcome::Ambiguous => "ambiguous",
            CheckOutcome::Throttled { .. } => "throttled",
            CheckOutcome::Unavailable => "unavailable",
        };
        metrics::counter!("idp_signins_total", "method" => "password", "outcome" => label)
            .increment(1);
        // Only a wrong password keeps its place in the address's count.
        if !matches!(outcome, CheckOutcome::Invalid) {
            self.throttle.release(client_ip).await?;
        }
        let refusal = match outcome {
            CheckOutcome::SignedIn { sub, claims } => {
                let account = SignedInAccount {
                    sub,
                    claims,
                    auth_time: self.clock.now(),
                    amr: vec!["pwd".into()],
                    acr: Acr::Low,
                    via_link: None,
                };
                // A temporary password is never enough: a new one is chosen before any code.
                if must_change_password(&account) {
                    let location = self
                        .new_password_step(id, &node_id, account, browser)
                        .await?;
                    return Ok(PasswordResult::NewPasswordFirst(location));
                }
                return Ok(PasswordResult::Continue(
                    self.proven(id, &node_id, account, cookie, browser).await?,
                ));
            }
            CheckOutcome::Invalid => PasswordRefusal::Invalid,
            CheckOutcome::Ambiguous => PasswordRefusal::Ambiguous,
            CheckOutcome::Throttled { .. } => PasswordRefusal::Throttled,
            CheckOutcome::Unavailable => PasswordRefusal::Unavailable,
        };
        Ok(PasswordResult::Refused(Box::new(view), refusal))
    }

    /// An account at `node_id` is proven (by password or eID): the waiting sign-in `id` is
    /// taken, the account joins the person's IdP session under a fresh cookie (so a planted
    /// cookie is worth nothing), and the waiting request goes on.
    pub async fn proven(
        &self,
        id: &str,
        node_id: &ClientId,
        account: SignedInAccount,
        old_cookie: Option<&str>,
        browser: &str,
    ) -> Result<Continue, SignInError> {
        let pending = self.pending.take(id).await?.ok_or(SignInError::Expired)?;
        if pending.browser.is_empty() || pending.browser != browser {
            return Err(SignInError::OtherBrowser);
        }
        let mut session = match old_cookie {
            Some(c) => self.sessions.load(c).await?,
            None => None,
        }
        .unwrap_or_else(|| self.sessions.start());
        if let Some(old) = old_cookie {
            self.sessions.delete(old, Some(&session)).await?;
        }
        session.accounts.insert(node_id.clone(), account.clone());
        let method = if account.amr.iter().any(|m| m == "pwd") {
            kind::SIGNIN_PASSWORD
        } else {
            kind::SIGNIN_EID
        };
        let event = Event::new(method, Actor::of(ActorKind::Person))
            .subject(format!("{node_id}/{}", account.sub))
            .at_institution(node_id.as_str())
            .detail(account.amr.join(" "));
        self.audit.soon(event).await;
        let cookie = random_token();
        let location = match &pending.purpose {
            Purpose::Authorize(request) => {
                self.authorizer
                    .finish(&cookie, session, request, &account)
                    .await?
            }
            Purpose::Link { from, to, .. } => {
                self.sessions.save(&cookie, &session).await?;
                super::linking::review_path(from, to)
            }
        };
        Ok(Continue { cookie, location })
    }
}
