//! Sign-in with ID-card or Smart-ID through an upstream provider: the button on the sign-in
//! page, and the upstream's answer. The personal code it proves is looked up at the node the
//! person is signing in to; nothing is stored and no session begins unless every check passes.

use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::login::{pending, proven};
use crate::http::pages;
use crate::http::protocol::authorize::internal;
use crate::i18n::{self, Texts};
use crate::service::federation::{self, AccountQuery};
use crate::service::sessions::SignedInAccount;
use crate::service::upstream::{PendingUpstream, Refusal};
use crate::state::AppState;

const PENDING_MINUTES: u64 = 10;

fn state_key(state: &str) -> String {
    format!("upstream-state:{state}")
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StartQuery {
    r: String,
}

pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<StartQuery>,
) -> Response {
    let t = i18n::texts(&headers, None);
    let Some(upstream) = state.upstreams.get(&id) else {
        return pages::error(StatusCode::NOT_FOUND, t, t.not_found);
    };
    let Some(p) = pending(&state, &q.r).await else {
        return pages::error(StatusCode::BAD_REQUEST, t, t.request_expired);
    };
    let t = i18n::texts(&headers, p.ui_locales());
    let (url, upstream_state, remembered) = match upstream.start(&q.r).await {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(upstream = %id, error = %format!("{e:#}"), "upstream unavailable");
            return failed(t, StatusCode::BAD_GATEWAY, t.eid_unavailable);
        }
    };
    let stored = match serde_json::to_vec(&remembered) {
        Ok(bytes) => {
            state
                .ephemeral
                .set(
                    &state_key(&upstream_state),
                    &bytes,
                    Duration::from_secs(PENDING_MINUTES * 60),
                )
                .await
        }
        Err(e) => Err(e.into()),
    };
    match stored {
        Ok(()) => Redirect::to(&url).into_response(),
        Err(e) => internal(t, e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

fn failed(t: &'static Texts, status: StatusCode, message: &str) -> Response {
    pages::message(status, t, t.eid_failed_title, message, None)
}

pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let t = i18n::texts(&headers, None);
    let Some(upstream) = state.upstreams.get(&id) else {
        return pages::error(StatusCode::NOT_FOUND, t, t.not_found);
    };
    // The state is single use and must be one this IdP gave this very upstream.
    let remembered = match q
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 128)
    {
        Some(s) => state.ephemeral.take(&state_key(s)).await.ok().flatten(),
        None => None,
    };
    let Some(remembered) =
        remembered.and_then(|b| serde_json::from_slice::<PendingUpstream>(&b).ok())
    else {
        return failed(t, StatusCode::BAD_REQUEST, t.eid_state);
    };
    if remembered.upstream != id {
        return failed(t, StatusCode::BAD_REQUEST, t.eid_state);
    }
    let Some(p) = pending(&state, &remembered.login).await else {
        return pages::error(StatusCode::BAD_REQUEST, t, t.request_expired);
    };
    let t = i18n::texts(&headers, p.ui_locales());
    if let Some(error) = q.error {
        tracing::info!(upstream = %id, %error, "the upstream did not identify the person");
        let message = if error == "user_cancel" || error == "access_denied" {
            t.eid_cancelled
        } else {
            t.eid_invalid
        };
        return failed(t, StatusCode::UNAUTHORIZED, message);
    }
    // RFC 9207: an answer naming another issuer is a mix-up.
    if q.iss
        .as_deref()
        .is_some_and(|iss| iss != upstream.config.issuer)
    {
        return failed(t, StatusCode::BAD_REQUEST, t.eid_invalid);
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return failed(t, StatusCode::BAD_REQUEST, t.eid_invalid);
    };
    let person = match upstream.finish(&code, &remembered).await {
        Ok(person) => person,
        Err(refusal) => {
            tracing::warn!(upstream = %id, %refusal, "upstream answer refused");
            let (status, message) = match refusal {
                Refusal::Cancelled => (StatusCode::UNAUTHORIZED, t.eid_cancelled),
                Refusal::WrongMethod(_) => (StatusCode::UNAUTHORIZED, t.eid_wrong_method),
                Refusal::NoPersonalCode(_) => (StatusCode::UNAUTHORIZED, t.eid_no_code),
                Refusal::Unavailable(_) => (StatusCode::BAD_GATEWAY, t.eid_unavailable),
                Refusal::UpstreamError(_) | Refusal::InvalidToken(_) => {
                    (StatusCode::UNAUTHORIZED, t.eid_invalid)
                }
            };
            return failed(t, status, message);
        }
    };
    let Some(client) = state.clients.get(p.client_id()) else {
        return pages::error(StatusCode::BAD_REQUEST, t, t.unknown_client);
    };
    let Some(node) = state.clients.get(&client.node_id) else {
        return pages::error(StatusCode::BAD_REQUEST, t, t.unknown_client);
    };
    let query = AccountQuery {
        sub: None,
        personal_code: Some(person.personal_code.as_str().to_owned()),
    };
    let found = federation::lookup_account(
        &state.http,
        &state.keys,
        &state.config.issuer,
        &node,
        &query,
    )
    .await;
    match found {
        Ok(Some(account)) => {
            let account = SignedInAccount {
                sub: account.sub,
                claims: account.claims,
                auth_time: shared::jwt::now(),
                amr: vec![person.amr],
                acr: person.acr,
                via_link: None,
            };
            proven(&state, jar, &remembered.login, &p, &node.client_id, account).await
        }
        Ok(None) => unknown(
            t,
            &node.name,
            node.federation_url.as_deref(),
            &remembered.login,
        ),
        Err(e) => {
            tracing::warn!(node = %node.client_id, error = %format!("{e:#}"), "account look-up failed");
            failed(t, StatusCode::BAD_GATEWAY, t.node_unavailable)
        }
    }
}

#[derive(Template)]
#[template(path = "eid_unknown.html")]
struct UnknownPage<'a> {
    t: &'static Texts,
    institution: &'a str,
    node_url: Option<&'a str>,
    request_id: &'a str,
}

/// No account with this personal code here: the ways to get one.
fn unknown(
    t: &'static Texts,
    institution: &str,
    node_url: Option<&str>,
    request_id: &str,
) -> Response {
    let page = UnknownPage {
        t,
        institution,
        node_url: node_url.map(|u| u.trim_end_matches('/')),
        request_id,
    };
    match page.render() {
        Ok(body) => (StatusCode::NOT_FOUND, Html(body)).into_response(),
        Err(e) => internal(t, e.into()),
    }
}
