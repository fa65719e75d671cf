//! The IdP's side of the federation API that nodes call: profile changes made at a node,
//! removing a link from a node's profile page, and signing a person out everywhere. Each call carries a fresh JWT signed by the node.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use shared::profile::ProfileChange;

use crate::service::clients::Client;
use crate::service::federation::authenticate_node;
use crate::state::AppState;
use crate::store::persons::Link;

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": code, "error_description": description })),
    )
        .into_response()
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<std::sync::Arc<Client>, Response> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    authenticate_node(
        &state.clients,
        &state.config.issuer,
        &state.ephemeral,
        bearer,
    )
    .await
    .map_err(|e| error(StatusCode::UNAUTHORIZED, "invalid_token", &format!("{e:#}")))
}

fn internal(e: anyhow::Error) -> Response {
    tracing::error!(error = %format!("{e:#}"), "federation call failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "the change could not be stored",
    )
}

/// A node reports changed personal data of one of its accounts.
pub async fn profile_changes(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let node = match caller(&state, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(change) = serde_json::from_slice::<ProfileChange>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "not a profile change",
        );
    };
    let from = Link {
        node_id: node.node_id.clone(),
        sub: change.sub,
    };
    match state.links.apply_changes(&from, &change.changes).await {
        Ok(version) => {
            Json(json!({ "linked": version.is_some(), "version": version })).into_response()
        }
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub struct Unlink {
    sub: String,
    client_id: String,
}

/// A node's account asks to be unlinked from its account at another institution.
pub async fn unlink(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let node = match caller(&state, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(request) = serde_json::from_slice::<Unlink>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "not an unlink request",
        );
    };
    let from = Link {
        node_id: node.node_id.clone(),
        sub: request.sub,
    };
    match state.links.unlink(&from, &request.client_id).await {
        Ok(removed) => Json(json!({ "removed": removed })).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
pub struct SignOut {
    sub: String,
}

/// A node's admin signs a person out everywhere (or disabled the account): every IdP session
/// with any of the person's linked accounts ends, and every node in them is told.
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let node = match caller(&state, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(request) = serde_json::from_slice::<SignOut>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "not a sign-out request",
        );
    };
    let from = Link {
        node_id: node.node_id.clone(),
        sub: request.sub,
    };
    match state
        .links
        .sign_out_everywhere(&from, &state.sessions)
        .await
    {
        Ok(n) => Json(json!({ "sessions": n })).into_response(),
        Err(e) => internal(e),
    }
}
