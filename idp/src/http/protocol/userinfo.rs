//! The userinfo endpoint: the claims of the access token's grant, while the grant stands.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::oidc::error::OAuthError;
use crate::state::AppState;

pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = crate::http::extract::bearer_token(&headers);
    let Some(token) = token else {
        return OAuthError::invalid_token("a Bearer access token is required").into_response();
    };
    match state.tokens.check_access_token(token).await {
        Ok((_, grant)) => {
            let mut response = Json(state.tokens.userinfo(&grant)).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(e) => e.into_response(),
    }
}
