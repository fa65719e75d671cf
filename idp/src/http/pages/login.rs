//! The sign-in page, branded with the requesting institution. The password is checked by that
//! institution's node over the federation API; the IdP never stores one.

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::http::pages;
use crate::http::protocol::authorize::{
    PendingLogin, Purpose, finish, internal, pending_key, session_cookie,
};
use crate::i18n::{self, Texts};
use crate::service::federation::{self, CheckOutcome, PasswordCheck};
use crate::service::sessions::{COOKIE, IdpSession, SignedInAccount, random_token};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    t: &'static Texts,
    institution: &'a str,
    logo_url: Option<&'a str>,
    node_url: Option<&'a str>,
    request_id: &'a str,
    csrf: &'a str,
    username: &'a str,
    message: Option<&'a str>,
    notice: Option<&'a str>,
    /// eID buttons: (upstream id, label).
    eid: Vec<(&'a str, &'a str)>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginQuery {
    r: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    r: String,
    csrf: String,
    username: String,
    password: String,
}

struct Shown<'a> {
    username: &'a str,
    message: Option<&'a str>,
    notice: Option<&'a str>,
}

fn render(
    state: &AppState,
    t: &'static Texts,
    p: &PendingLogin,
    id: &str,
    shown: Shown<'_>,
    status: StatusCode,
) -> Response {
    let Some(client) = state.clients.get(p.client_id()) else {
        return pages::error(StatusCode::BAD_REQUEST, t, t.unknown_client);
    };
    let page = LoginPage {
        t,
        institution: &client.name,
        logo_url: client.logo_url.as_deref(),
        node_url: client
            .federation_url
            .as_deref()
            .map(|u| u.trim_end_matches('/')),
        request_id: id,
        csrf: &p.csrf,
        username: shown.username,
        message: shown.message,
        notice: shown.notice,
        eid: state
            .upstreams
            .all()
            .iter()
            .map(|u| (u.config.id.as_str(), u.label(t.lang)))
            .collect(),
    };
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(_) => pages::error(StatusCode::INTERNAL_SERVER_ERROR, t, t.internal),
    }
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(query): Query<LoginQuery>,
) -> Response {
    let Some(p) = pending(&state, &query.r).await else {
        let t = i18n::texts(&headers, None);
        return pages::error(StatusCode::BAD_REQUEST, t, t.request_expired);
    };
    let t = i18n::texts(&headers, p.ui_locales());
    let hint = p.login_hint().unwrap_or_default().to_owned();
    // Signed in elsewhere but sent here: this institution's account is not linked to theirs.
    let signed_in_elsewhere = match (&p.purpose, jar.get(COOKIE)) {
        (Purpose::Authorize(_), Some(cookie)) => state
            .sessions
            .load(cookie.value(), shared::jwt::now())
            .await
            .ok()
            .flatten()
            .is_some_and(|s| !s.accounts.is_empty()),
        _ => false,
    };
    let shown = Shown {
        username: &hint,
        message: None,
        notice: signed_in_elsewhere.then_some(t.not_linked_here),
    };
    render(&state, t, &p, &query.r, shown, StatusCode::OK)
}

pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    body: axum::body::Bytes,
) -> Response {
    let form: LoginForm = serde_html_form::from_bytes(&body).unwrap_or_default();
    let Some(p) = pending(&state, &form.r).await else {
        let t = i18n::texts(&headers, None);
        return pages::error(StatusCode::BAD_REQUEST, t, t.request_expired);
    };
    let t = i18n::texts(&headers, p.ui_locales());
    if !bool::from(p.csrf.as_bytes().ct_eq(form.csrf.as_bytes())) {
        return pages::error(StatusCode::FORBIDDEN, t, t.csrf_failed);
    }
    let Some(client) = state.clients.get(p.client_id()) else {
        return pages::error(StatusCode::BAD_REQUEST, t, t.unknown_client);
    };
    let client_ip = forwarded_for(&state, &headers).unwrap_or_else(|| peer.ip().to_string());
    let check = PasswordCheck {
        username: form.username.clone(),
        password: form.password,
        client_ip,
    };
    // The password is checked by the node whose accounts sign in to this client.
    let outcome = match state.clients.get(&client.node_id) {
        Some(node) => {
            federation::check_password(
                &state.http,
                &state.keys,
                &state.config.issuer,
                &node,
                &check,
            )
            .await
        }
        None => CheckOutcome::Unavailable,
    };
    let (message, status) = match outcome {
        CheckOutcome::SignedIn { sub, claims } => {
            let account = SignedInAccount {
                sub,
                claims,
                auth_time: shared::jwt::now(),
                amr: vec!["pwd".into()],
                acr: "low".into(),
                via_link: None,
            };
            return proven(&state, jar, &form.r, &p, &client.node_id, account).await;
        }
        CheckOutcome::Invalid => (t.invalid_credentials, StatusCode::UNAUTHORIZED),
        CheckOutcome::Ambiguous => (t.ambiguous_name, StatusCode::UNAUTHORIZED),
        CheckOutcome::Throttled { .. } => (t.throttled, StatusCode::TOO_MANY_REQUESTS),
        CheckOutcome::Unavailable => (t.node_unavailable, StatusCode::BAD_GATEWAY),
    };
    let shown = Shown {
        username: &form.username,
        message: Some(message),
        notice: None,
    };
    render(&state, t, &p, &form.r, shown, status)
}

fn forwarded_for(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if !state.config.trust_forwarded_for {
        return None;
    }
    headers
        .get("x-forwarded-for")?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()
        .map(|s| s.trim().to_owned())
}

/// An account at `node_id` is proven (by password or eID): it joins the person's IdP session
/// under a fresh cookie, and the waiting sign-in goes on.
pub async fn proven(
    state: &AppState,
    jar: CookieJar,
    pending_id: &str,
    p: &PendingLogin,
    node_id: &str,
    account: SignedInAccount,
) -> Response {
    let t = i18n::texts(&HeaderMap::new(), p.ui_locales());
    let _ = state.ephemeral.delete(&pending_key(pending_id)).await;
    let now = shared::jwt::now();
    let old = jar.get(COOKIE).map(|c| c.value().to_owned());
    let mut session = match &old {
        Some(c) => state.sessions.load(c, now).await.ok().flatten(),
        None => None,
    }
    .unwrap_or_else(|| IdpSession::new(now));
    session.accounts.insert(node_id.to_owned(), account.clone());
    // A sign-in gets a fresh cookie value, so a planted one is worth nothing.
    if let Some(old) = &old {
        let _ = state.sessions.delete(old).await;
    }
    let cookie = random_token();
    match &p.purpose {
        Purpose::Authorize(request) => {
            finish(state, jar, &cookie, session, request, &account).await
        }
        Purpose::Link { from, to, .. } => {
            if let Err(e) = state.sessions.save(&cookie, &session).await {
                return internal(t, e);
            }
            let jar = jar.add(session_cookie(state, cookie));
            (jar, Redirect::to(&super::link::review_path(from, to))).into_response()
        }
    }
}

/// The waiting sign-in behind `id`, if it has not expired.
pub async fn pending(state: &AppState, id: &str) -> Option<PendingLogin> {
    if id.len() != 64 {
        return None;
    }
    let bytes = state.ephemeral.get(&pending_key(id)).await.ok().flatten()?;
    serde_json::from_slice(&bytes).ok()
}
