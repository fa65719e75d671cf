//! The language switch: remembers the choice in a cookie (and, signed in, on the account) and
//! goes back where the person was.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::i18n::{LOCALE_COOKIE, Locale};
use crate::state::AppState;

pub async fn switch(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
    jar: CookieJar,
    session: tower_sessions::Session,
) -> Response {
    let locale = Locale::parse(&code).unwrap_or(Locale::Et);
    // Signed in: the account keeps the choice, for the letters it is sent, and so do the
    // person's linked schools. The switch works whether or not that can be stored now.
    if let Ok(Some(account)) = session
        .get::<String>(crate::http::extract::SESSION_ACCOUNT)
        .await
    {
        match crate::service::accounts::choose_language(&state.db, &account, locale).await {
            Ok(true) => state.profile_changed(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "the account's language was not stored"),
        }
    }
    let cookie = Cookie::build((LOCALE_COOKIE, locale.code()))
        .path("/")
        .secure(state.config.secure_cookies())
        .same_site(SameSite::Lax)
        .max_age(time::Duration::days(365))
        .build();
    // Back to the page the switch was clicked on, when that was a page of this site.
    let back = shared::http::referring_path(&headers);
    (jar.add(cookie), Redirect::to(&back)).into_response()
}
