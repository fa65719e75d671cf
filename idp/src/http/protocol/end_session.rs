//! RP-initiated logout 1.0 (`service::logout`): ends the IdP session, tells every institution
//! in it, and returns to the client's registered post-logout URI (exact match) with its `state`.

use askama::Template;
use axum::extract::{OriginalUri, RawForm, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use serde::Deserialize;

use crate::error::{AppError, PageResult};
use crate::http::extract::SessionCookie;
use crate::i18n;
use crate::service::authorize::with_params;
use crate::service::logout::{LogoutError, LogoutRequest};
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

#[derive(Template)]
#[template(path = "logged_out.html")]
struct LoggedOutPage {
    t: &'static i18n::Texts,
    institutions: Vec<String>,
    frames: Vec<String>,
    next: Option<String>,
}

pub async fn by_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    cookie: SessionCookie,
    uri: OriginalUri,
    RawQuery(q): RawQuery,
) -> PageResult<Response> {
    let retry = uri.0.to_string();
    end_session(
        state,
        headers,
        cookie,
        q.unwrap_or_default().as_bytes(),
        retry,
    )
    .await
}

pub async fn by_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    cookie: SessionCookie,
    RawForm(f): RawForm,
) -> PageResult<Response> {
    let retry = format!("/logout?{}", String::from_utf8_lossy(&f));
    end_session(state, headers, cookie, &f, retry).await
}

async fn end_session(
    state: AppState,
    headers: HeaderMap,
    cookie: SessionCookie,
    params: &[u8],
    retry: String,
) -> PageResult<Response> {
    let bad = || AppError::new(StatusCode::BAD_REQUEST, |t| t.bad_logout);
    let p: LogoutParams = serde_html_form::from_bytes(params).map_err(|_| bad())?;
    let t = i18n::texts(&headers, p.ui_locales.as_deref());
    let request = LogoutRequest {
        id_token_hint: p.id_token_hint,
        post_logout_redirect_uri: p.post_logout_redirect_uri,
        client_id: p.client_id,
    };
    let out = match state.logout.end_session(&request, cookie.as_deref()).await {
        Ok(out) => out,
        Err(LogoutError::Invalid) => return Err(bad().in_lang(t)),
        // The session stays: the person is told and can try again.
        Err(LogoutError::Internal(e)) => {
            return Err(AppError {
                message: |t| t.logout_failed,
                ..AppError::internal(e)
            }
            .titled(|t| t.logout_failed_title)
            .retry_at(retry)
            .in_lang(t));
        }
    };
    let jar = if out.ended {
        CookieJar::new().remove(Cookie::build(COOKIE).path("/"))
    } else {
        CookieJar::new()
    };
    let params: Vec<(&str, &str)> = p
        .state
        .as_deref()
        .map(|s| vec![("state", s)])
        .unwrap_or_default();
    let next = out.next.as_deref().map(|uri| with_params(uri, &params));
    // With no front-channel frames to load, go straight back to the client.
    if out.frames.is_empty()
        && let Some(next) = &next
    {
        return Ok((jar, crate::http::redirect_no_store(next)).into_response());
    }
    let page = LoggedOutPage {
        t,
        institutions: out.institutions,
        frames: out.frames,
        next,
    };
    let mut response = (jar, Html(page.render()?)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
