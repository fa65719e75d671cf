//! The authorization endpoint (OIDC Core §3.1.2): SSO from the session when it can, else the
//! sign-in page; prompt=none answers `login_required` instead of showing a page.

use std::time::Duration;

use axum::extract::{RawForm, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};

use super::redirect_with;
use crate::http::pages;
use crate::i18n;
use crate::oidc::request::{self, AuthorizeRequest, Prompt, RawAuthorize};
use crate::service::sessions::{COOKIE, IdpSession, SignedInAccount, random_token};
use crate::state::AppState;

/// A sign-in waiting for the person: for an authorization request, or to prove an account at
/// another institution before linking it.
#[derive(Serialize, Deserialize)]
pub struct PendingLogin {
    pub purpose: Purpose,
    pub csrf: String,
}

#[derive(Serialize, Deserialize)]
pub enum Purpose {
    Authorize(AuthorizeRequest),
    /// Linking the account at `from` to one at `to`; the sign-in is at `to`.
    Link {
        from: String,
        to: String,
        ui_locales: Option<String>,
    },
}

impl PendingLogin {
    /// The client whose institution the sign-in page is for.
    pub fn client_id(&self) -> &str {
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

    /// Stores it for a while and returns the sign-in page's address.
    pub async fn store(&self, state: &AppState) -> anyhow::Result<String> {
        let id = random_token();
        state
            .ephemeral
            .set(
                &pending_key(&id),
                &serde_json::to_vec(self)?,
                Duration::from_secs(PENDING_MINUTES * 60),
            )
            .await?;
        Ok(format!("/login?r={id}"))
    }
}

pub const PENDING_MINUTES: u64 = 15;

/// The `error_description` of `login_required` when the person is signed in at the IdP but has
/// no account here linked to theirs. Nodes tell this apart to offer linking.
pub const NO_LINKED_ACCOUNT: &str =
    "no account at this institution is linked to the signed-in person";

/// The session's account at `node_id`: proven in the session, or opened through a link from
/// one that was (single sign-on between institutions, DESIGN §4.6). An account opened through
/// a link that has since been removed is no longer offered.
async fn known_account(
    state: &AppState,
    session: &IdpSession,
    node_id: &str,
) -> anyhow::Result<Option<SignedInAccount>> {
    if let Some(account) = session.accounts.get(node_id) {
        match &account.via_link {
            None => return Ok(Some(account.clone())),
            Some(from) => {
                if state
                    .links
                    .still_linked(session, node_id, &account.sub, from)
                    .await?
                {
                    return Ok(Some(account.clone()));
                }
            }
        }
    }
    let Some((from, sub)) = state.links.linked_at(session, node_id).await? else {
        return Ok(None);
    };
    let Some(there) = state.links.lookup(node_id, &sub).await? else {
        return Ok(None);
    };
    let proven = &session.accounts[&from];
    Ok(Some(SignedInAccount {
        sub: there.sub,
        claims: there.claims,
        auth_time: proven.auth_time,
        amr: proven.amr.clone(),
        acr: proven.acr.clone(),
        via_link: Some(from),
    }))
}

pub fn pending_key(id: &str) -> String {
    format!("authz:{id}")
}

pub async fn by_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    authorize(state, headers, jar, query.unwrap_or_default().as_bytes()).await
}

pub async fn by_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    RawForm(form): RawForm,
) -> Response {
    authorize(state, headers, jar, &form).await
}

async fn authorize(state: AppState, headers: HeaderMap, jar: CookieJar, params: &[u8]) -> Response {
    let Ok(raw) = serde_html_form::from_bytes::<RawAuthorize>(params) else {
        let t = i18n::texts(&headers, None);
        return pages::error(StatusCode::BAD_REQUEST, t, t.bad_request);
    };
    let t = i18n::texts(&headers, raw.ui_locales.as_deref());
    // Until the client and its redirect URI are known good, nothing is redirected.
    let Some(client) = state.clients.get(&raw.client_id) else {
        return pages::error(StatusCode::BAD_REQUEST, t, t.unknown_client);
    };
    if !client.allows_redirect(&raw.redirect_uri) {
        return pages::error(StatusCode::BAD_REQUEST, t, t.bad_redirect_uri);
    }
    let request = match request::check(&raw) {
        Ok(r) => r,
        Err(e) => {
            return error_redirect(
                &state,
                &raw.redirect_uri,
                raw.state.as_deref(),
                e.error,
                e.description,
            );
        }
    };
    let now = shared::jwt::now();
    let cookie = jar.get(COOKIE).map(|c| c.value().to_owned());
    let session = match &cookie {
        Some(c) => match state.sessions.load(c, now).await {
            Ok(s) => s,
            Err(e) => return internal(t, e),
        },
        None => None,
    };
    if let (Some(cookie), Some(session)) = (&cookie, &session) {
        let known = match known_account(&state, session, &client.node_id).await {
            Ok(a) => a,
            Err(e) => return internal(t, e),
        };
        if let Some(account) = known {
            let fresh_enough = request
                .max_age
                .is_none_or(|max| now - account.auth_time <= max);
            if request.prompt != Prompt::Login && fresh_enough {
                return finish(&state, jar, cookie, session.clone(), &request, &account).await;
            }
        }
    }
    if request.prompt == Prompt::None {
        // With a session but no linked account here, the node can offer linking or applying.
        let description = if session.is_some_and(|s| !s.accounts.is_empty()) {
            NO_LINKED_ACCOUNT
        } else {
            "the person must sign in"
        };
        return error_redirect(
            &state,
            &request.redirect_uri,
            request.state.as_deref(),
            "login_required",
            description,
        );
    }
    let pending = PendingLogin {
        purpose: Purpose::Authorize(request),
        csrf: random_token(),
    };
    match pending.store(&state).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => internal(t, e),
    }
}

pub fn internal(t: &'static i18n::Texts, e: anyhow::Error) -> Response {
    tracing::error!(error = %format!("{e:#}"), "authorization failed");
    pages::error(StatusCode::INTERNAL_SERVER_ERROR, t, t.internal)
}

pub fn error_redirect(
    state: &AppState,
    redirect_uri: &str,
    client_state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut params = vec![
        ("error", error),
        ("error_description", description),
        ("iss", state.config.issuer.as_str()),
    ];
    if let Some(s) = client_state {
        params.push(("state", s));
    }
    redirect_with(redirect_uri, &params)
}

/// The session cookie: HttpOnly, SameSite=Lax (it must come along on top-level redirects from
/// the schools), Secure when the issuer is https.
pub fn session_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((COOKIE, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.issuer.starts_with("https://"))
        .build()
}

/// Issues a code for a signed-in account and sends the browser back to the client.
pub async fn finish(
    state: &AppState,
    jar: CookieJar,
    cookie: &str,
    mut session: IdpSession,
    request: &AuthorizeRequest,
    account: &SignedInAccount,
) -> Response {
    session.participants.insert(request.client_id.clone());
    let t = i18n::texts(&HeaderMap::new(), request.ui_locales.as_deref());
    let Some(client) = state.clients.get(&request.client_id) else {
        return pages::error(StatusCode::BAD_REQUEST, t, t.unknown_client);
    };
    let mut session_account = account.clone();
    session_account.claims.remove("institutions");
    session
        .accounts
        .insert(client.node_id.clone(), session_account);
    // The nav bar's list is current: a link made a moment ago shows at the next sign-in.
    let mut account = account.clone();
    match state
        .links
        .institutions_for(&mut session, &client.node_id, &account.sub)
        .await
    {
        Ok(list) => {
            account
                .claims
                .insert("institutions".into(), serde_json::json!(list));
        }
        Err(e) => return internal(t, e),
    }
    if let Err(e) = state.sessions.save(cookie, &session).await {
        return internal(t, e);
    }
    let code = match state
        .tokens
        .issue_code(request, &session.sid, &account)
        .await
    {
        Ok(code) => code,
        Err(e) => return internal(t, e),
    };
    let mut params = vec![
        ("code", code.as_str()),
        ("iss", state.config.issuer.as_str()),
    ];
    if let Some(s) = request.state.as_deref() {
        params.push(("state", s));
    }
    let jar = jar.add(session_cookie(state, cookie.to_owned()));
    (jar, redirect_with(&request.redirect_uri, &params)).into_response()
}
