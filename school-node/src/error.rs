//! One error type for the pages. Handlers return it; the `error_pages` middleware, which knows the
//! person's language and the request id, turns it (and axum's own rejections) into a page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::service::ServiceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Forbidden,
    BadRequest,
    Csrf,
    /// A field held a control character (NUL, say) that no field accepts.
    ControlCharacters,
    TooLarge,
    Conflict,
    /// The database or the session store could not be reached: try again in a moment.
    Unavailable,
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Forbidden | ErrorKind::Csrf => StatusCode::FORBIDDEN,
            ErrorKind::BadRequest | ErrorKind::ControlCharacters => StatusCode::BAD_REQUEST,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn from_status(status: StatusCode) -> ErrorKind {
        match status {
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => ErrorKind::NotFound,
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => ErrorKind::Forbidden,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::TooLarge,
            StatusCode::CONFLICT => ErrorKind::Conflict,
            StatusCode::SERVICE_UNAVAILABLE => ErrorKind::Unavailable,
            s if s.is_server_error() => ErrorKind::Internal,
            _ => ErrorKind::BadRequest,
        }
    }
}

#[derive(Debug)]
pub struct AppError {
    pub kind: ErrorKind,
    /// The cause, logged once with the request id and never shown.
    pub cause: Option<String>,
}

impl AppError {
    pub fn new(kind: ErrorKind) -> Self {
        Self { kind, cause: None }
    }
    /// A failure of this program, or of a store it needs (then 503, not 500).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let cause = format!("{cause:#}");
        Self {
            kind: if shared::health::is_unavailable(&cause) {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Internal
            },
            cause: Some(cause),
        }
    }
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound => AppError::new(ErrorKind::NotFound),
            ServiceError::Forbidden => AppError::new(ErrorKind::Forbidden),
            ServiceError::Conflict => AppError::new(ErrorKind::Conflict),
            ServiceError::Invalid(errors) => Self {
                kind: ErrorKind::BadRequest,
                cause: Some(format!("{errors:?}")),
            },
            ServiceError::Internal(e) => AppError::internal(format!("{e:#}")),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::internal(format!("{e:#}"))
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(e: tower_sessions::session::Error) -> Self {
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
pub struct ErrorMark {
    pub kind: ErrorKind,
    pub cause: Option<String>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = self.kind.status().into_response();
        response.extensions_mut().insert(ErrorMark {
            kind: self.kind,
            cause: self.cause,
        });
        response
    }
}

pub type PageResult<T = Response> = Result<T, AppError>;
