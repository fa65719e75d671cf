//! The authorization endpoint (OIDC Core §3.1.2), by GET or POST; the rules are in
//! `service::authorize`.

use axum::extract::{RawForm, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;

use crate::error::{AppError, PageResult};
use crate::http::extract::{Browser, SessionCookie};
use crate::http::pages::session_cookie;
use crate::http::redirect_no_store;
use crate::i18n;
use crate::oidc::request::RawAuthorize;
use crate::service::authorize::{Authorized, Refused};
use crate::state::AppState;

pub async fn by_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    let params = query.unwrap_or_default();
    authorize(state, headers, browser, cookie, params.as_bytes()).await
}

pub async fn by_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    RawForm(form): RawForm,
) -> PageResult<Response> {
    authorize(state, headers, browser, cookie, &form).await
}

async fn authorize(
    state: AppState,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    params: &[u8],
) -> PageResult<Response> {
    let Ok(raw) = serde_html_form::from_bytes::<RawAuthorize>(params) else {
        return Err(AppError::bad_request());
    };
    let t = i18n::texts(&headers, raw.ui_locales.as_deref());
    let authorized = state
        .authorizer
        // Only a sign-in that waits binds the browser (a silent hop sets no cookie).
        .authorize(&raw, cookie.as_deref(), || browser.binding())
        .await
        .map_err(|refused| {
            match refused {
                Refused::UnknownClient => AppError::unknown_client(),
                Refused::BadRedirectUri => {
                    AppError::new(StatusCode::BAD_REQUEST, |t| t.bad_redirect_uri)
                }
                Refused::Internal(e) => AppError::internal(e),
            }
            .in_lang(t)
        })?;
    Ok(match authorized {
        Authorized::Code { cookie, location } => {
            let jar = CookieJar::new().add(session_cookie(&state, cookie));
            (jar, redirect_no_store(&location)).into_response()
        }
        Authorized::Error { location } | Authorized::SignIn { location } => {
            redirect_no_store(&location)
        }
    })
}
