//! OAuth 2.0 / OpenID Connect errors with the codes of RFC 6749 and OIDC Core.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
    pub status: StatusCode,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>, status: StatusCode) -> Self {
        Self {
            error,
            description: description.into(),
            status,
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d, StatusCode::BAD_REQUEST)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", d, StatusCode::UNAUTHORIZED)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d, StatusCode::BAD_REQUEST)
    }
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", d, StatusCode::BAD_REQUEST)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", d, StatusCode::BAD_REQUEST)
    }
    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::new("invalid_token", d, StatusCode::UNAUTHORIZED)
    }
    /// RFC 7591 §3.2.2: a redirect URI the registration may not have.
    pub fn invalid_redirect_uri(d: impl Into<String>) -> Self {
        Self::new("invalid_redirect_uri", d, StatusCode::BAD_REQUEST)
    }
    /// RFC 7591 §3.2.2: other client metadata that are wrong.
    pub fn invalid_client_metadata(d: impl Into<String>) -> Self {
        Self::new("invalid_client_metadata", d, StatusCode::BAD_REQUEST)
    }
    pub fn unsupported_response_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_response_type", d, StatusCode::BAD_REQUEST)
    }
    pub fn login_required(d: impl Into<String>) -> Self {
        Self::new("login_required", d, StatusCode::BAD_REQUEST)
    }
    pub fn unsupported_token_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_token_type", d, StatusCode::BAD_REQUEST)
    }
    pub fn server(cause: impl Into<String>) -> Self {
        let cause = cause.into();
        tracing::error!(%cause, "protocol request failed");
        if shared::health::is_unavailable(&cause) {
            return Self::new(
                "temporarily_unavailable",
                "the server is briefly unavailable; try again in a moment",
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
        Self::new(
            "server_error",
            "the server could not complete the request",
            StatusCode::INTERNAL_SERVER_ERROR,
        )
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(e: sqlx::Error) -> Self {
        OAuthError::server(e.to_string())
    }
}

impl From<anyhow::Error> for OAuthError {
    fn from(e: anyhow::Error) -> Self {
        OAuthError::server(format!("{e:#}"))
    }
}

/// The JSON error body of the token, revocation and userinfo endpoints, never cached.
impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            let value = if self.error == "invalid_token" {
                format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    self.description.replace('"', "'")
                )
            } else {
                "Basic realm=\"idp\"".to_owned()
            };
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        response
    }
}
