//! Pages people see: the branded sign-in page, eID, linking, and messages.

pub mod eid;
pub mod lang;
pub mod link;
pub mod login;
pub mod me;

use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

use crate::error::AppError;
use crate::service::sessions::COOKIE;
use crate::service::signin::Continue;
use crate::state::AppState;

pub async fn not_found() -> AppError {
    AppError::not_found()
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

/// An account was proven: the browser carries the new session cookie to where it goes next.
pub fn continue_to(state: &AppState, next: Continue) -> Response {
    let jar = CookieJar::new().add(session_cookie(state, next.cookie));
    let mut response = (jar, Redirect::to(&next.location)).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}
