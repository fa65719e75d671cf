//! The IdP's side of the federation API that nodes call (`service::node_requests`): profile
//! changes, removing a link, and signing a person out everywhere. Refusals are JSON with an
//! OAuth-style code and a description that names no cause; the cause goes to the log.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use shared::federation::{ErrorAnswer, PasswordChanged, SignOutRequest, UnlinkRequest};
use shared::profile::ProfileChange;

use crate::service::clients::Client;
use crate::service::node_requests::NodeRequestError;
use crate::state::AppState;

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    let answer = ErrorAnswer {
        error: code.to_owned(),
        error_description: Some(description.to_owned()),
    };
    (status, Json(answer)).into_response()
}

fn refused(e: NodeRequestError) -> Response {
    match e {
        NodeRequestError::Unauthenticated(why) => {
            tracing::warn!(%why, "federation call refused");
            error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the call is not signed by a registered node",
            )
        }
        NodeRequestError::Invalid(why) => {
            tracing::warn!(%why, "federation call not valid");
            error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request is not valid",
            )
        }
        NodeRequestError::Internal(e) => {
            tracing::error!(error = %format!("{e:#}"), "federation call failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the change could not be stored",
            )
        }
    }
}

/// The calling node and its message, both checked.
async fn call<T: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Arc<Client>, T), Response> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let node = state
        .node_requests
        .authenticate(bearer)
        .await
        .map_err(refused)?;
    let message = serde_json::from_slice(body)
        .map_err(|e| refused(NodeRequestError::Invalid(e.to_string())))?;
    Ok((node, message))
}

pub async fn profile_changes(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (node, change) = match call::<ProfileChange>(&state, &headers, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match state.node_requests.profile_changes(&node, &change).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => refused(e),
    }
}

pub async fn unlink(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (node, request) = match call::<UnlinkRequest>(&state, &headers, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match state.node_requests.unlink(&node, &request).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => refused(e),
    }
}

pub async fn password_changed(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (node, request) = match call::<PasswordChanged>(&state, &headers, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match state.node_requests.password_changed(&node, &request).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => refused(e),
    }
}

pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (node, request) = match call::<SignOutRequest>(&state, &headers, &body).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match state.node_requests.sign_out(&node, &request).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => refused(e),
    }
}
