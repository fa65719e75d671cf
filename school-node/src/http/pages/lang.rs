//! The language switch: remembers the choice in a cookie and goes back where the person was.

use axum::extract::Path;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::http::extract::local_path;
use crate::i18n::{LOCALE_COOKIE, Locale};

pub async fn switch(Path(code): Path<String>, headers: HeaderMap, jar: CookieJar) -> Response {
    let locale = Locale::parse(&code).unwrap_or(Locale::Et);
    let cookie = Cookie::build((LOCALE_COOKIE, locale.code()))
        .path("/")
        .same_site(SameSite::Lax)
        .max_age(time::Duration::days(365))
        .build();
    // Back to the page the switch was clicked on, when that was a page of this site.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.parse::<axum::http::Uri>().ok())
        .and_then(|uri| uri.path_and_query().map(|p| p.as_str().to_owned()))
        .unwrap_or_else(|| "/".to_owned());
    (jar.add(cookie), Redirect::to(local_path(&back))).into_response()
}
