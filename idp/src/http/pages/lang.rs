//! The IdP's language: the switch on every page, and a school's `ui_locales` remembered, both in
//! a cookie that every later page reads.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};

use crate::i18n::{self, LANG_COOKIE};
use crate::state::AppState;

fn cookie(lang: &'static str, secure: bool) -> Option<HeaderValue> {
    let cookie = Cookie::build((LANG_COOKIE, lang))
        .path("/")
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(time::Duration::days(365))
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}

fn secure(state: &AppState) -> bool {
    state.config.issuer.starts_with("https://")
}

/// `/lang/{code}`: remembers the choice and goes back to the page it was made on.
pub async fn switch(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = i18n::supported(&code).unwrap_or(&i18n::ET).lang;
    let mut response = Redirect::to(&shared::http::referring_path(&headers)).into_response();
    if let Some(value) = cookie(lang, secure(&state)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A request that names `ui_locales` (a school sending the person's language) sets the
/// remembered language, so the pages after it (sign-in, linking, sign-out) keep it.
pub async fn remember_ui_locales(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // Every request passes here: only one that names ui_locales has its query read.
    let asked = request
        .uri()
        .query()
        .filter(|q| q.contains("ui_locales"))
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "ui_locales")
                .and_then(|(_, v)| v.split_whitespace().find_map(i18n::supported))
        });
    let mut response = next.run(request).await;
    if let Some(value) = asked.and_then(|t| cookie(t.lang, secure(&state))) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
