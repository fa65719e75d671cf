//! The authorization endpoint's rules (OIDC Core §3.1.2): single sign-on from the IdP session
//! when it holds an account at the client's institution (proven there, or opened through a
//! link, DESIGN §4.6), otherwise the sign-in page; `prompt=none` answers `login_required`
//! instead. A code is issued for a signed-in account and the browser sent back.

use shared::{ClientId, Clock};

use super::clients::Registry;
use super::links::Links;
use super::sessions::{IdpSession, Sessions, SignedInAccount};
use super::signin::{PendingLogins, Purpose};
use super::tokens::Tokens;
use crate::oidc::request::{self, AuthorizeRequest, Prompt, RawAuthorize};
use shared::audit::{Actor, ActorKind, Event, kind};

/// The `error_description` of `login_required` when the person is signed in at the IdP but has
/// no account here linked to theirs. Nodes tell this apart to offer linking.
pub const NO_LINKED_ACCOUNT: &str =
    "no account at this institution is linked to the signed-in person";

/// Where an authorization request leads.
#[derive(Debug)]
pub enum Authorized {
    /// Back to the client with a code; the session now lives under `cookie`.
    Code { cookie: String, location: String },
    /// Back to the client with an error (its redirect URI is known good).
    Error { location: String },
    /// To the sign-in page.
    SignIn { location: String },
}

/// A request that cannot be sent back to the client: shown as a page.
#[derive(Debug)]
pub enum Refused {
    UnknownClient,
    BadRedirectUri,
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for Refused {
    fn from(e: anyhow::Error) -> Self {
        Refused::Internal(e)
    }
}

#[derive(Clone)]
pub struct Authorizer {
    /// Audit events (the person's data tracker).
    pub audit: shared::audit::Recorder,
    pub sessions: Sessions,
    pub links: Links,
    pub clients: Registry,
    pub tokens: Tokens,
    pub pending: PendingLogins,
    pub issuer: String,
    pub clock: Clock,
}

/// A client URI with query parameters added.
pub fn with_params(uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            if !params.is_empty() {
                let mut query = url.query_pairs_mut();
                for (k, v) in params {
                    query.append_pair(k, v);
                }
            }
            url.into()
        }
        Err(_) => "/".into(),
    }
}

impl Authorizer {
    pub async fn authorize(
        &self,
        raw: &RawAuthorize,
        cookie: Option<&str>,
        browser: impl FnOnce() -> String,
    ) -> Result<Authorized, Refused> {
        // Until the client and its redirect URI are known good, nothing is redirected.
        let client = self
            .clients
            .get(&raw.client_id)
            .ok_or(Refused::UnknownClient)?;
        if !client.allows_redirect(&raw.redirect_uri) {
            return Err(Refused::BadRedirectUri);
        }
        let request = match request::check(raw) {
            Ok(r) => r,
            Err(e) => {
                return Ok(Authorized::Error {
                    location: self.error_location(
                        &raw.redirect_uri,
                        raw.state.as_deref(),
                        e.error,
                        e.description,
                    ),
                });
            }
        };
        let session = match cookie {
            Some(c) => self.sessions.load(c).await?,
            None => None,
        };
        if let (Some(cookie), Some(session)) = (cookie, &session)
            && let Some(account) = self.known_account(session, &client.node_id).await?
        {
            let now = self.clock.now();
            let fresh_enough = request
                .max_age
                .is_none_or(|max| now - account.auth_time <= max);
            if request.prompt != Prompt::Login && fresh_enough {
                let method = if account.via_link.is_some() {
                    "sso_jump"
                } else {
                    "sso"
                };
                metrics::counter!("idp_signins_total", "method" => method, "outcome" => "ok")
                    .increment(1);
                // A hop signs the person in at an application of this session once; an
                // application asking again silently (prompt=none every few minutes, say) is
                // not a new sign-in and is not recorded again.
                let first_here = !session.participants.contains(&request.client_id);
                let location = self
                    .finish(cookie, session.clone(), &request, &account)
                    .await?;
                if first_here {
                    // Written in a batch: the hop's own path does no database write for it.
                    let event = Event::new(kind::SIGNIN_HOP, Actor::of(ActorKind::Person))
                        .subject(format!("{}/{}", client.node_id, account.sub))
                        .at_institution(client.node_id.as_str())
                        .detail(method);
                    self.audit.soon(event).await;
                }
                return Ok(Authorized::Code {
                    cookie: cookie.to_owned(),
                    location,
                });
            }
        }
        if request.prompt == Prompt::None {
            // With a session but no linked account here, the node can offer linking or applying.
            let description = if session.is_some_and(|s| !s.accounts.is_empty()) {
                NO_LINKED_ACCOUNT
            } else {
                "the person must sign in"
            };
            return Ok(Authorized::Error {
                location: self.error_location(
                    &request.redirect_uri,
                    request.state.as_deref(),
                    "login_required",
                    description,
                ),
            });
        }
        let location = self
            .pending
            .begin(Purpose::Authorize(request), &browser())
            .await?;
        Ok(Authorized::SignIn { location })
    }

    /// The session's account at `node_id`: proven in the session, or opened through a link
    /// from one that was. An account opened through a link since removed is not offered.
    pub async fn known_account(
        &self,
        session: &IdpSession,
        node_id: &ClientId,
    ) -> anyhow::Result<Option<SignedInAccount>> {
        if let Some(account) = session.accounts.get(node_id) {
            match &account.via_link {
                None => return Ok(Some(account.clone())),
                Some(from) => {
                    if self
                        .links
                        .still_linked(session, node_id, &account.sub, from)
                        .await?
                    {
                        return Ok(Some(account.clone()));
                    }
                }
            }
        }
        let Some((from, sub)) = self.links.linked_at(session, node_id).await? else {
            return Ok(None);
        };
        // A linked school that cannot say who its account is now (its database is down, say)
        // is not a jump: the person is asked to sign in there as if there were no link.
        let there = match self.links.lookup(node_id, &sub).await {
            Ok(Some(there)) => there,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!(node = %node_id, error = %format!("{e:#}"), "a linked school did not answer: no jump");
                return Ok(None);
            }
        };
        let proven = &session.accounts[&from];
        Ok(Some(SignedInAccount {
            sub: there.sub,
            claims: there.claims,
            auth_time: proven.auth_time,
            amr: proven.amr.clone(),
            acr: proven.acr,
            via_link: Some(from),
        }))
    }

    pub fn error_location(
        &self,
        redirect_uri: &str,
        client_state: Option<&str>,
        error: &str,
        description: &str,
    ) -> String {
        let mut params = vec![
            ("error", error),
            ("error_description", description),
            ("iss", self.issuer.as_str()),
        ];
        if let Some(s) = client_state {
            params.push(("state", s));
        }
        with_params(redirect_uri, &params)
    }

    /// Issues a code for a signed-in account, saves the session under `cookie`, and returns
    /// where the browser goes: back to the client.
    pub async fn finish(
        &self,
        cookie: &str,
        mut session: IdpSession,
        request: &AuthorizeRequest,
        account: &SignedInAccount,
    ) -> anyhow::Result<String> {
        session.participants.insert(request.client_id.clone());
        let client = self
            .clients
            .get(&request.client_id)
            .ok_or_else(|| anyhow::anyhow!("{} is no longer registered", request.client_id))?;
        let mut session_account = account.clone();
        session_account.claims.remove("institutions");
        session
            .accounts
            .insert(client.node_id.clone(), session_account);
        // The nav bar's list is current: a link made a moment ago shows at the next sign-in.
        let mut account = account.clone();
        let list = self
            .links
            .institutions_for(&mut session, &client.node_id, &account.sub)
            .await?;
        account
            .claims
            .insert("institutions".into(), serde_json::to_value(list)?);
        self.sessions.save(cookie, &session).await?;
        let code = self
            .tokens
            .issue_code(request, &session.sid, &account)
            .await?;
        let mut params = vec![("code", code.as_str()), ("iss", self.issuer.as_str())];
        if let Some(s) = request.state.as_deref() {
            params.push(("state", s));
        }
        Ok(with_params(&request.redirect_uri, &params))
    }
}
