//! RP-initiated logout 1.0 (`service::logout`): ends the IdP session, tells every institution
//! in it, and returns to the client's registered post-logout URI (exact match) with its `state`.
//! Unless a valid `id_token_hint` names the browser's own session (a plain link from anywhere,
//! or a hint for an earlier or another person's session) the person is asked first, and nothing
//! ends until they press the button on the IdP's own page.

use askama::Template;
use axum::extract::{RawForm, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use serde::{Deserialize, Serialize};

use crate::error::{AppError, PageResult};
use crate::http::extract::{Browser, SessionCookie, VerifiedForm};
use crate::http::render;
use crate::i18n;
use crate::service::authorize::with_params;
use crate::service::logout::{Ending, LogoutError, LogoutRequest};
use crate::service::sessions::COOKIE;
use crate::state::AppState;

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
pub struct LogoutParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token_hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_logout_redirect_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ui_locales: Option<String>,
}

impl LogoutParams {
    /// The request again as an address: where trying again starts.
    fn retry(&self) -> String {
        let query = serde_html_form::to_string(self).unwrap_or_default();
        format!("/logout?{query}")
    }

    /// The values the confirmation form carries on. Never the hint: the button, not the hint,
    /// vouches then; the client the hint named goes on as `client_id`, so that its
    /// post-logout URI is still checked against its registration.
    fn fields(&self, client_id: Option<String>) -> Vec<(&'static str, String)> {
        [
            ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
            ("state", &self.state),
            ("client_id", &client_id),
            ("ui_locales", &self.ui_locales),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
        .collect()
    }
}

#[derive(Template)]
#[template(path = "logged_out.html")]
struct LoggedOutPage {
    t: &'static i18n::Texts,
    /// False: there was no session to end, and the page says so instead.
    ended: bool,
    institutions: Vec<String>,
    frames: Vec<String>,
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "logout_confirm.html")]
struct ConfirmPage {
    t: &'static i18n::Texts,
    csrf: String,
    fields: Vec<(&'static str, String)>,
}

fn bad() -> AppError {
    AppError::new(StatusCode::BAD_REQUEST, |t| t.bad_logout)
}

pub async fn by_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    RawQuery(q): RawQuery,
) -> PageResult<Response> {
    let p = serde_html_form::from_str(&q.unwrap_or_default()).map_err(|_| bad())?;
    end_session(state, headers, browser, cookie, p, false).await
}

pub async fn by_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    RawForm(f): RawForm,
) -> PageResult<Response> {
    let p = serde_html_form::from_bytes(&f).map_err(|_| bad())?;
    end_session(state, headers, browser, cookie, p, false).await
}

/// The person pressed "Logi välja" on the confirmation page.
pub async fn confirmed(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    VerifiedForm(p): VerifiedForm<LogoutParams>,
) -> PageResult<Response> {
    if p.id_token_hint.is_some() {
        return Err(bad());
    }
    end_session(state, headers, browser, cookie, p, true).await
}

async fn end_session(
    state: AppState,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    p: LogoutParams,
    confirmed: bool,
) -> PageResult<Response> {
    let t = i18n::texts(&headers, p.ui_locales.as_deref());
    let retry = p.retry();
    let request = LogoutRequest {
        id_token_hint: p.id_token_hint.clone(),
        post_logout_redirect_uri: p.post_logout_redirect_uri.clone(),
        client_id: p.client_id.clone(),
    };
    let checked = match state.logout.check(&request) {
        Ok(checked) => checked,
        Err(_) => return Err(bad().in_lang(t)),
    };
    let client_id = checked.client_id.clone();
    let ending = match state
        .logout
        .end(checked, cookie.as_deref(), confirmed)
        .await
    {
        Ok(ending) => ending,
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
    let (out, ended) = match ending {
        Ending::Ended(out) => (out, true),
        Ending::NotSignedIn(out) => (out, false),
        // Not sure the person asked for it: a plain link, or a hint for another session.
        Ending::AskFirst => {
            let page = ConfirmPage {
                t,
                csrf: browser.csrf_token(),
                fields: p.fields(p.client_id.clone().or(client_id)),
            };
            let mut response = render(StatusCode::OK, &page)?;
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return Ok(response);
        }
    };
    let mut jar = if out.ended {
        CookieJar::new().remove(Cookie::build(COOKIE).path("/"))
    } else {
        CookieJar::new()
    };
    // A sign-out at the IdP ends the operators' console in this browser too.
    if let Some(console) = crate::http::console::console_cookie_value(&state, &headers) {
        state.console.end(&console).await?;
        jar = jar.remove(
            Cookie::build(crate::http::console::cookie_name(
                state.config.issuer.starts_with("https://"),
            ))
            .path("/"),
        );
    }
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
        ended,
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
