//! The node's federation API, called by the IdP: its keys, password checks, account look-ups
//! and profile updates. Every call but the keys carries a fresh JWT signed by the IdP.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::federation::{
    AccountQuery, CallClaims, InstitutionsUpdate, PasswordCheck, ProfileUpdateAnswer, SetPassword,
};
use shared::profile::ProfileUpdate;

use super::sso::json_error;
use crate::sso::federation::{FederationApi, FederationError};
use crate::sso::idp_api::{UpdateError, apply_update};
use crate::state::AppState;
use crate::store::accounts::Synced;

/// The node's public keys, for the IdP to check its signed answers and client assertions.
pub async fn jwks(State(state): State<AppState>) -> Response {
    let jwks = match crate::sso::published_jwks(&state.db).await {
        Ok(jwks) => jwks,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the node's keys could not be read");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
        }
    };
    let mut response = Json(jwks).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// The IdP's call, checked; or the answer refusing it.
async fn from_idp(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Arc<FederationApi>, CallClaims), Response> {
    let Some(api) = state.federation.clone() else {
        return Err(json_error(
            StatusCode::NOT_FOUND,
            "single sign-on is not configured",
        ));
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match api.authorize(bearer).await {
        Ok(claims) => Ok((api, claims)),
        Err(FederationError::Unauthorized(why)) => {
            tracing::warn!(%why, "federation request refused");
            Err(json_error(StatusCode::UNAUTHORIZED, "invalid_token"))
        }
        Err(FederationError::Internal(e)) => {
            tracing::error!(error = %format!("{e:#}"), "federation request failed");
            Err(json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
            ))
        }
    }
}

/// A signed answer as `application/jwt`, never cached.
fn signed(answer: anyhow::Result<String>) -> Response {
    match answer {
        Ok(jwt) => {
            let mut response = jwt.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            );
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "federation answer failed");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error")
        }
    }
}

pub async fn password_check(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (api, request) = match from_idp(&state, &headers).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let Ok(check) = serde_json::from_slice::<PasswordCheck>(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    signed(api.password_check(&state.signin, &request, &check).await)
}

pub async fn account(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (api, request) = match from_idp(&state, &headers).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let Ok(query) = serde_json::from_slice::<AccountQuery>(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    signed(api.account(&state.db, &state.audit, &request, &query).await)
}

/// The IdP asks for an account's audit events, for its person's own page.
pub async fn events(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (api, request) = match from_idp(&state, &headers).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let Ok(query) = serde_json::from_slice::<shared::federation::EventsQuery>(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    signed(api.events(&state.audit, &request, &query).await)
}

/// A person chose a new password on the IdP's page after signing in with a temporary one.
pub async fn set_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (api, request) = match from_idp(&state, &headers).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let Ok(set) = serde_json::from_slice::<SetPassword>(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    signed(
        api.set_password(&state.db, &state.ephemeral, &state.audit, &request, &set)
            .await,
    )
}

/// The IdP's version of a linked account's personal data.
pub async fn profile(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = from_idp(&state, &headers).await {
        return refused;
    }
    let Ok(update) = serde_json::from_slice::<ProfileUpdate>(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    match apply_update(&state.db, &state.audit, &update).await {
        Ok(outcome) => Json(ProfileUpdateAnswer {
            applied: outcome == Synced::Applied,
        })
        .into_response(),
        Err(UpdateError::Invalid(why)) => {
            tracing::warn!(%why, "profile update refused");
            json_error(StatusCode::BAD_REQUEST, "invalid_request")
        }
        Err(UpdateError::NotFound) => json_error(StatusCode::NOT_FOUND, "unknown_account"),
        Err(UpdateError::Conflict) => json_error(StatusCode::CONFLICT, "conflict"),
        Err(UpdateError::Internal(e)) => {
            tracing::error!(error = %format!("{e:#}"), "profile update failed");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error")
        }
    }
}

/// The IdP says which institutions a linked account now has, for its sessions' nav bars.
pub async fn institutions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = from_idp(&state, &headers).await {
        return refused;
    }
    let Ok(update) = serde_json::from_slice::<InstitutionsUpdate>(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    match crate::sso::nav::set(&state.ephemeral, update.sub.as_str(), &update.institutions).await {
        Ok(()) => Json(serde_json::json!({ "stored": true })).into_response(),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the institutions could not be stored");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
    }
}
