//! Request extractors: the browser's binding cookie and the forms whose CSRF token matches it,
//! the IdP session cookie, the client address, and the request id.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::error::AppError;
use crate::service::sessions::COOKIE;
use crate::service::{is_token, random_token};
use crate::state::AppState;

/// The name of the browser's binding cookie; `__Host-` under https, so no other host of the
/// domain can plant one.
pub fn browser_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-idp_browser"
    } else {
        "idp_browser"
    }
}

/// A random value this browser keeps in an HttpOnly cookie. Forms carry a token derived from
/// it, so a form's values replayed from another browser (or posted from another site) do
/// nothing. Made on first use; the `browser_cookie` middleware sets it then.
#[derive(Clone)]
pub struct Browser {
    /// The cookie's value, or for a new browser one made when first used (most requests, like
    /// a silent sign-in, never need it).
    value: Arc<std::sync::OnceLock<String>>,
    fresh: bool,
    used: Arc<AtomicBool>,
}

impl Browser {
    pub(super) fn from_cookie(jar: &CookieJar, secure: bool) -> Self {
        match jar
            .get(browser_cookie_name(secure))
            .map(|c| c.value().to_owned())
            .filter(|v| is_token(v))
        {
            Some(value) => Self {
                value: Arc::new(std::sync::OnceLock::from(value)),
                fresh: false,
                used: Arc::default(),
            },
            None => Self {
                value: Arc::default(),
                fresh: true,
                used: Arc::default(),
            },
        }
    }

    /// The token forms carry. Using it makes a new browser keep its cookie.
    fn value(&self) -> &str {
        self.value.get_or_init(random_token)
    }

    pub fn csrf_token(&self) -> String {
        self.used.store(true, Ordering::Relaxed);
        shared::http::sha256_hex(&format!("csrf:{}", self.value()))
    }

    /// The cookie to set, when this browser had none and a page used it.
    pub(super) fn cookie_to_set(&self, secure: bool) -> Option<Cookie<'static>> {
        (self.fresh && self.used.load(Ordering::Relaxed)).then(|| {
            Cookie::build((browser_cookie_name(secure), self.value().to_owned()))
                .path("/")
                .http_only(true)
                .secure(secure)
                .same_site(SameSite::Lax)
                .build()
        })
    }

    /// What a waiting step stores to know this browser again: a hash of its cookie value, so
    /// the store never holds the value itself. Using it makes a new browser keep its cookie.
    pub fn binding(&self) -> String {
        self.used.store(true, Ordering::Relaxed);
        shared::http::sha256_hex(&format!("step:{}", self.value()))
    }

    fn matches(&self, submitted: &str) -> bool {
        let expected = shared::http::sha256_hex(&format!("csrf:{}", self.value()));
        !self.fresh && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Browser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Browser>()
            .cloned()
            .ok_or_else(|| AppError::internal("the browser cookie layer is missing"))
    }
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// A form of a button alone: nothing but its CSRF token (`VerifiedForm<ButtonOnly>`).
#[derive(Deserialize)]
pub struct ButtonOnly {}

/// A url-encoded form whose `csrf` field matches this browser's token: one check for every
/// form of the IdP.
pub struct VerifiedForm<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for VerifiedForm<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let browser = req.extensions().get::<Browser>().cloned();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                AppError::new(rejection.status(), |t| t.bad_request)
                    .caused_by(rejection.body_text())
            })?;
        let CsrfField { csrf } = serde_html_form::from_bytes(&bytes)
            .map_err(|e| AppError::bad_request().caused_by(e))?;
        if !browser.is_some_and(|b| b.matches(&csrf)) {
            return Err(AppError::csrf());
        }
        let fields: Vec<(String, String)> = serde_html_form::from_bytes(&bytes)
            .map_err(|e| AppError::bad_request().caused_by(e))?;
        if fields.iter().any(|(k, v)| {
            shared::names::has_forbidden_control(k) || shared::names::has_forbidden_control(v)
        }) {
            return Err(AppError::new(axum::http::StatusCode::BAD_REQUEST, |t| {
                t.control_characters
            }));
        }
        let form = serde_html_form::from_bytes(&bytes)
            .map_err(|e| AppError::bad_request().caused_by(e))?;
        Ok(VerifiedForm(form))
    }
}

/// A page's query parameters, deserialised once every value is checked: a control character
/// (NUL among them) in any of them is refused with a page, as in every form, before it can
/// reach a store or be shown back; a query that does not fit is a page too, not a bare 400.
pub struct CleanQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for CleanQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let fields: Vec<(String, String)> =
            serde_html_form::from_str(query).map_err(|e| AppError::bad_request().caused_by(e))?;
        if fields.iter().any(|(k, v)| {
            shared::names::has_forbidden_control(k) || shared::names::has_forbidden_control(v)
        }) {
            return Err(AppError::new(axum::http::StatusCode::BAD_REQUEST, |t| {
                t.control_characters
            }));
        }
        let value =
            serde_html_form::from_str(query).map_err(|e| AppError::bad_request().caused_by(e))?;
        Ok(CleanQuery(value))
    }
}

/// The token of an `Authorization: Bearer …` header (the scheme in any case, RFC 6750).
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The IdP session cookie's value, when the browser sent one.
pub struct SessionCookie(pub Option<String>);

impl SessionCookie {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SessionCookie {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        Ok(SessionCookie(jar.get(COOKIE).map(|c| c.value().to_owned())))
    }
}

/// The address a request came from; behind a trusted proxy, the last `X-Forwarded-For` entry.
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        shared::http::client_addr(parts, state.config.trust_forwarded_for)
            .map(ClientAddr)
            .ok_or_else(|| AppError::internal("the server was started without connection info"))
    }
}

/// This request's id: in the logs beside every line it caused, and on its error page.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_is_read_in_any_case_of_its_scheme() {
        let headers = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(axum::http::header::AUTHORIZATION, v.parse().unwrap());
            h
        };
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&headers("BEARER abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&axum::http::HeaderMap::new()), None);
    }

    #[test]
    fn a_form_token_matches_only_its_own_browser() {
        let jar = CookieJar::new().add(Cookie::new("idp_browser", random_token()));
        let browser = Browser::from_cookie(&jar, false);
        let token = browser.csrf_token();
        assert!(browser.matches(&token));
        let other = Browser::from_cookie(
            &CookieJar::new().add(Cookie::new("idp_browser", random_token())),
            false,
        );
        assert!(!other.matches(&token));
        let cookieless = Browser::from_cookie(&CookieJar::new(), false);
        let own = cookieless.csrf_token();
        assert!(
            !cookieless.matches(&own),
            "a browser without the cookie matches nothing"
        );
        assert!(cookieless.cookie_to_set(false).is_some());
        assert!(browser.cookie_to_set(false).is_none());
        assert_eq!(
            cookieless.cookie_to_set(true).unwrap().name(),
            "__Host-idp_browser"
        );
    }
}
