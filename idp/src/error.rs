//! One error type for the IdP's pages. Handlers return it; the `error_pages` middleware, which
//! knows the request id and the person's language, turns it (and axum's own rejections) into a
//! page that names the error, offers a way onward, and logs the cause once. Protocol endpoints
//! answer with their RFC error JSON instead (`oidc::error`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::i18n::Texts;

/// Picks a text in the language the page is finally shown in.
pub type Words = fn(&'static Texts) -> &'static str;

#[derive(Debug, Clone)]
pub struct AppError {
    pub status: StatusCode,
    pub title: Words,
    pub message: Words,
    /// Logged once with the request id; never shown.
    pub cause: Option<String>,
    /// Where trying again starts (the same request, or the step that failed).
    pub retry: Option<String>,
    /// The language the flow asked for (`ui_locales`), over the browser's.
    pub lang: Option<&'static Texts>,
}

impl AppError {
    pub fn new(status: StatusCode, message: Words) -> Self {
        Self {
            status,
            title: |t| t.error_title,
            message,
            cause: None,
            retry: None,
            lang: None,
        }
    }

    /// A failure of this program, or of a store it needs (then 503 with "try again in a
    /// moment", not 500).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let cause = format!("{cause:#}");
        if shared::health::is_unavailable(&cause) {
            return Self {
                cause: Some(cause),
                title: |t| t.unavailable_title,
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, |t| t.unavailable)
            };
        }
        Self {
            cause: Some(cause),
            title: |t| t.internal_title,
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, |t| t.internal)
        }
    }

    pub fn not_found() -> Self {
        Self {
            title: |t| t.not_found_title,
            ..Self::new(StatusCode::NOT_FOUND, |t| t.not_found)
        }
    }

    pub fn bad_request() -> Self {
        Self::new(StatusCode::BAD_REQUEST, |t| t.bad_request)
    }

    pub fn request_expired() -> Self {
        Self::new(StatusCode::BAD_REQUEST, |t| t.request_expired)
    }

    pub fn unknown_client() -> Self {
        Self::new(StatusCode::BAD_REQUEST, |t| t.unknown_client)
    }

    /// A waiting step that another browser began: nothing was done here.
    pub fn other_browser() -> Self {
        Self::new(StatusCode::FORBIDDEN, |t| t.other_browser)
    }

    pub fn csrf() -> Self {
        Self::new(StatusCode::FORBIDDEN, |t| t.csrf_failed)
    }

    pub fn titled(mut self, title: Words) -> Self {
        self.title = title;
        self
    }

    pub fn in_lang(mut self, t: &'static Texts) -> Self {
        self.lang = Some(t);
        self
    }

    pub fn retry_at(mut self, url: impl Into<String>) -> Self {
        self.retry = Some(url.into());
        self
    }

    pub fn caused_by(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(format!("{cause:#}"));
        self
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::internal(e)
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::internal(e)
    }
}

/// Carried in the response's extensions from a handler to the `error_pages` middleware.
#[derive(Debug, Clone)]
pub struct ErrorMark(pub AppError);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(ErrorMark(self));
        response
    }
}

pub type PageResult<T = Response> = Result<T, AppError>;
