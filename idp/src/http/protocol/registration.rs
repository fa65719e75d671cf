//! The registration endpoint (RFC 7591) for a school node enrolling with a one-time token an
//! operator made (`service::enrolment`): the token is the initial access token (a Bearer
//! header), the metadata a JSON body; the answer is 201 with the client's id and secret.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::oidc::error::OAuthError;
use crate::service::enrolment::{ClientMetadata, EnrolmentError};
use crate::state::AppState;

pub async fn register(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let token = crate::http::extract::bearer_token(&headers);
    let Some(token) = token else {
        return OAuthError::invalid_token("an enrolment token is required as a Bearer token")
            .into_response();
    };
    let metadata: ClientMetadata = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            return OAuthError::invalid_client_metadata(format!("not client metadata: {e}"))
                .into_response();
        }
    };
    match state.enrolment.register(token, metadata).await {
        Ok(registered) => {
            crate::http::no_store((StatusCode::CREATED, Json(registered)).into_response())
        }
        Err(EnrolmentError::InvalidToken) => {
            OAuthError::invalid_token("the enrolment token is unknown, used or expired")
                .into_response()
        }
        Err(EnrolmentError::InvalidRedirectUri(d)) => {
            OAuthError::invalid_redirect_uri(d).into_response()
        }
        Err(EnrolmentError::InvalidMetadata(d)) => {
            OAuthError::invalid_client_metadata(d).into_response()
        }
        Err(EnrolmentError::Internal(e)) => OAuthError::from(e).into_response(),
    }
}
