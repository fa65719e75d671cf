//! RP-initiated logout 1.0: ends the IdP session and returns to the client's registered
//! post-logout URI (exact match) with its `state`.

use askama::Template;
use axum::extract::{RawForm, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use serde::Deserialize;
use serde_json::Value;

use super::redirect_with;
use crate::http::pages;
use crate::i18n;
use crate::service::sessions::COOKIE;
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(default)]
struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
    ui_locales: Option<String>,
}

pub async fn by_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    RawQuery(q): RawQuery,
) -> Response {
    end_session(state, headers, jar, q.unwrap_or_default().as_bytes()).await
}

pub async fn by_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    RawForm(f): RawForm,
) -> Response {
    end_session(state, headers, jar, &f).await
}

async fn end_session(
    state: AppState,
    headers: HeaderMap,
    jar: CookieJar,
    params: &[u8],
) -> Response {
    let p: LogoutParams = match serde_html_form::from_bytes(params) {
        Ok(p) => p,
        Err(_) => {
            let t = i18n::texts(&headers, None);
            return pages::error(StatusCode::BAD_REQUEST, t, t.bad_logout);
        }
    };
    let t = i18n::texts(&headers, p.ui_locales.as_deref());
    // The hint may have expired; its signature and issuer must still be ours.
    let hint = match p.id_token_hint.as_deref() {
        Some(token) => match state.keys.verify(token) {
            Ok((_, claims))
                if claims.get("iss").and_then(Value::as_str)
                    == Some(state.config.issuer.as_str()) =>
            {
                Some(claims)
            }
            _ => return pages::error(StatusCode::BAD_REQUEST, t, t.bad_logout),
        },
        None => None,
    };
    let hinted_client = hint
        .as_ref()
        .and_then(|c| c.get("aud"))
        .and_then(|a| match a {
            Value::String(s) => Some(s.clone()),
            Value::Array(v) => v.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        });
    if let (Some(a), Some(b)) = (&hinted_client, &p.client_id)
        && a != b
    {
        return pages::error(StatusCode::BAD_REQUEST, t, t.bad_logout);
    }
    let client = hinted_client
        .or(p.client_id.clone())
        .and_then(|id| state.clients.get(&id));
    let target = match (&p.post_logout_redirect_uri, &client) {
        (Some(uri), Some(client)) if client.allows_post_logout(uri) => Some(uri.clone()),
        (Some(_), _) => return pages::error(StatusCode::BAD_REQUEST, t, t.bad_logout),
        (None, _) => None,
    };

    let now = shared::jwt::now();
    let mut jar = jar;
    let mut institutions = Vec::new();
    let mut frames = Vec::new();
    if let Some(cookie) = jar.get(COOKIE).map(|c| c.value().to_owned()) {
        let session = state.sessions.load(&cookie, now).await.ok().flatten();
        let hinted_sid = hint
            .as_ref()
            .and_then(|c| c.get("sid"))
            .and_then(Value::as_str);
        // A hint for another session must not end this one.
        let same = match (&session, hinted_sid) {
            (Some(s), Some(sid)) => s.sid == sid,
            _ => true,
        };
        if same {
            // Every client of the session hears of its end by back-channel, from the outbox.
            if let Some(session) = &session {
                match state.deliveries.announce_logout(session).await {
                    Ok(told) => institutions = told,
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "queuing back-channel logout failed");
                        return pages::error(StatusCode::INTERNAL_SERVER_ERROR, t, t.internal);
                    }
                }
                frames = front_channel_frames(&state, session);
            }
            if let Err(e) = state.sessions.delete(&cookie).await {
                tracing::error!(error = %format!("{e:#}"), "ending a session failed");
                return pages::error(StatusCode::INTERNAL_SERVER_ERROR, t, t.internal);
            }
            jar = jar.remove(Cookie::build(COOKIE).path("/"));
        }
    }
    let params: Vec<(&str, &str)> = p
        .state
        .as_deref()
        .map(|s| vec![("state", s)])
        .unwrap_or_default();
    let next = target.map(|uri| redirect_with(&uri, &params));
    // With no front-channel frames to load, go straight back to the client.
    if frames.is_empty()
        && let Some(redirect) = next
    {
        return (jar, redirect).into_response();
    }
    let next = next.and_then(|r| {
        r.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let page = LoggedOutPage {
        t,
        institutions,
        frames,
        next,
    };
    match page.render() {
        Ok(body) => {
            let mut response = (jar, Html(body)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => pages::error(StatusCode::INTERNAL_SERVER_ERROR, t, t.internal),
    }
}

#[derive(Template)]
#[template(path = "logged_out.html")]
struct LoggedOutPage {
    t: &'static i18n::Texts,
    institutions: Vec<String>,
    /// Front-Channel Logout 1.0 frames: each participant's URI with `iss` and `sid`.
    frames: Vec<String>,
    next: Option<String>,
}

fn front_channel_frames(
    state: &AppState,
    session: &crate::service::sessions::IdpSession,
) -> Vec<String> {
    session
        .participants
        .iter()
        .filter_map(|id| state.clients.get(id)?.frontchannel_logout_uri.clone())
        .filter_map(|uri| {
            let mut url = url::Url::parse(&uri).ok()?;
            url.query_pairs_mut()
                .append_pair("iss", &state.config.issuer)
                .append_pair("sid", &session.sid);
            Some(url.to_string())
        })
        .collect()
}
