//! Signing in with ID-card or Smart-ID through an upstream provider (DESIGN §4.8): the button
//! sends the person upstream with a single-use `state`; the answer is checked completely
//! (`upstream`), the personal code it proves is looked up at the node the person is signing
//! in to, and only then does the waiting sign-in go on. Nothing is stored and no session
//! begins unless every check passes.

use std::time::Duration;

use shared::ClientId;
use shared::ephemeral::Ephemeral;
use shared::federation::AccountQuery;

use super::clients::Registry;
use super::federation::NodeApi;
use super::sessions::SignedInAccount;
use super::signin::{Continue, PendingLogins, SignIn, SignInError};
use super::upstream::{EidPerson, PendingUpstream, Refusal, Upstreams};

const PENDING_MINUTES: u64 = 10;

fn state_key(state: &str) -> String {
    format!("upstream-state:{state}")
}

/// The upstream's answer at the callback, as sent.
#[derive(Debug, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub iss: Option<String>,
}

/// Where a proven eID answer goes on.
#[derive(Debug)]
pub enum EidDone {
    /// The waiting sign-in to an institution, finished.
    SignIn(Continue),
    /// An operator signing in to the console: the console decides.
    Console(EidPerson),
}

/// Why an eID sign-in did not go on; each is a page.
#[derive(Debug)]
pub enum EidStop {
    UnknownUpstream,
    /// The waiting sign-in expired or was finished.
    Expired,
    /// The answer does not belong to a sign-in this IdP began with this upstream.
    WrongState,
    /// The answer came to another browser than the one sent upstream.
    OtherBrowser,
    /// The answer lacks a code or names another issuer (RFC 9207 mix-up).
    Malformed,
    Refused(Refusal),
    /// The person is proven, but the institution has no account with their personal code.
    NoAccount {
        institution: String,
        node_url: Option<String>,
        login: String,
    },
    NodeUnavailable,
    UnknownClient,
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for EidStop {
    fn from(e: anyhow::Error) -> Self {
        EidStop::Internal(e)
    }
}

impl From<SignInError> for EidStop {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::Expired => EidStop::Expired,
            SignInError::OtherBrowser => EidStop::OtherBrowser,
            SignInError::UnknownClient => EidStop::UnknownClient,
            SignInError::Internal(e) => EidStop::Internal(e),
        }
    }
}

#[derive(Clone)]
pub struct Eid {
    pub upstreams: Upstreams,
    pub pending: PendingLogins,
    pub signin: SignIn,
    pub clients: Registry,
    pub nodes: NodeApi,
    pub store: Ephemeral,
}

impl Eid {
    /// The upstream's authorization URL for waiting sign-in `login`.
    pub async fn start(
        &self,
        upstream_id: &str,
        login: &str,
        browser: &str,
        lang: &str,
    ) -> Result<String, EidStop> {
        self.pending.get(login).await?.ok_or(EidStop::Expired)?;
        self.send_upstream(upstream_id, login, browser, lang, false)
            .await
    }

    /// The upstream's authorization URL for an operator signing in to the console.
    pub async fn start_console(
        &self,
        upstream_id: &str,
        browser: &str,
        lang: &str,
    ) -> Result<String, EidStop> {
        self.send_upstream(upstream_id, "", browser, lang, true)
            .await
    }

    async fn send_upstream(
        &self,
        upstream_id: &str,
        login: &str,
        browser: &str,
        lang: &str,
        console: bool,
    ) -> Result<String, EidStop> {
        let upstream = self
            .upstreams
            .get(upstream_id)
            .ok_or(EidStop::UnknownUpstream)?;
        let (url, state, mut remembered) = upstream
            .start(login, browser, lang)
            .await
            .map_err(|e| EidStop::Refused(Refusal::Unavailable(format!("{e:#}"))))?;
        remembered.console = console;
        self.store
            .set(
                &state_key(&state),
                &serde_json::to_vec(&remembered).map_err(anyhow::Error::from)?,
                Duration::from_secs(PENDING_MINUTES * 60),
            )
            .await?;
        Ok(url)
    }

    /// The upstream's answer: checked, the person looked up, and the waiting sign-in finished.
    pub async fn callback(
        &self,
        upstream_id: &str,
        answer: Callback,
        cookie: Option<&str>,
        browser: &str,
    ) -> Result<EidDone, EidStop> {
        let upstream = self
            .upstreams
            .get(upstream_id)
            .ok_or(EidStop::UnknownUpstream)?;
        // The state is single use and must be one this IdP gave this very upstream.
        let remembered = match answer
            .state
            .as_deref()
            .filter(|s| !s.is_empty() && s.len() <= 128)
        {
            Some(s) => self.store.take(&state_key(s)).await?,
            None => None,
        };
        let remembered: PendingUpstream = remembered
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|r: &PendingUpstream| r.upstream == upstream_id)
            .ok_or(EidStop::WrongState)?;
        if remembered.browser.is_empty() || remembered.browser != browser {
            return Err(EidStop::OtherBrowser);
        }
        let pending = match remembered.console {
            true => None,
            false => Some(
                self.pending
                    .get(&remembered.login)
                    .await?
                    .ok_or(EidStop::Expired)?,
            ),
        };
        if let Some(error) = answer.error {
            tracing::info!(upstream = %upstream_id, %error, "the upstream did not identify the person");
            return Err(EidStop::Refused(
                if error == "user_cancel" || error == "access_denied" {
                    Refusal::Cancelled
                } else {
                    Refusal::UpstreamError(error)
                },
            ));
        }
        // RFC 9207: an answer naming another issuer is a mix-up, and one without `iss` from an
        // upstream that promises it may be one.
        let iss_missing = answer.iss.is_none()
            && upstream
                .requires_iss()
                .await
                .map_err(|e| EidStop::Refused(Refusal::Unavailable(format!("{e:#}"))))?;
        if iss_missing
            || answer
                .iss
                .as_deref()
                .is_some_and(|iss| iss != upstream.config.issuer)
        {
            return Err(EidStop::Malformed);
        }
        let code = answer
            .code
            .filter(|c| !c.is_empty())
            .ok_or(EidStop::Malformed)?;
        let person = upstream
            .finish(&code, &remembered)
            .await
            .map_err(|refusal| {
                tracing::warn!(upstream = %upstream_id, %refusal, "upstream answer refused");
                EidStop::Refused(refusal)
            })?;
        let Some(pending) = pending else {
            return Ok(EidDone::Console(person));
        };
        let client = self
            .clients
            .get(pending.client_id())
            .ok_or(EidStop::UnknownClient)?;
        let node = self
            .clients
            .get(&client.node_id)
            .ok_or(EidStop::UnknownClient)?;
        let query = AccountQuery {
            for_linking_with: None,
            sub: None,
            personal_code: Some(person.personal_code.clone()),
        };
        let account = match self.nodes.lookup_account(&node, &query).await {
            Ok(Some(account)) => account,
            Ok(None) => {
                return Err(EidStop::NoAccount {
                    institution: node.name.clone(),
                    node_url: node.federation_url.clone(),
                    login: remembered.login,
                });
            }
            Err(e) => {
                tracing::warn!(node = %node.client_id, error = %format!("{e:#}"), "account look-up failed");
                return Err(EidStop::NodeUnavailable);
            }
        };
        let account = SignedInAccount {
            sub: account.sub,
            claims: account.claims,
            auth_time: self.signin.clock.now(),
            amr: vec![person.amr],
            acr: person.acr,
            via_link: None,
        };
        metrics::counter!("idp_signins_total", "method" => upstream_id.to_owned(), "outcome" => "ok")
            .increment(1);
        let node_id: ClientId = node.client_id.clone();
        Ok(EidDone::SignIn(
            self.signin
                .proven(&remembered.login, &node_id, account, cookie, browser)
                .await?,
        ))
    }
}
