//! The token endpoint (authorization_code, refresh_token) and revocation (RFC 7009).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::oidc::error::OAuthError;
use crate::service::client_auth::{self as clients, Credentials};
use crate::service::clients::Client;
use crate::service::tokens::TokenResponse;
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    token: Option<String>,
}

fn parse(headers: &HeaderMap, body: &[u8]) -> Result<TokenForm, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    serde_html_form::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the form is malformed or repeats a parameter"))
}

async fn client(
    state: &AppState,
    headers: &HeaderMap,
    form: &TokenForm,
    endpoint: &str,
) -> Result<std::sync::Arc<Client>, OAuthError> {
    let basic = clients::basic_credentials(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )?;
    let creds = Credentials {
        basic,
        client_id: form.client_id.clone(),
        client_secret: form.client_secret.clone(),
        assertion_type: form.client_assertion_type.clone(),
        assertion: form.client_assertion.clone(),
    };
    state.client_auth.authenticate(endpoint, &creds).await
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match issue(&state, &headers, &body).await {
        Ok(response) => no_store(Json(response).into_response()),
        Err(e) => e.into_response(),
    }
}

async fn issue(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenResponse, OAuthError> {
    let form = parse(headers, body)?;
    let client = client(state, headers, &form, "/token").await?;
    let grant: &'static str = match form.grant_type.as_str() {
        "authorization_code" => "authorization_code",
        "refresh_token" => "refresh_token",
        _ => "other",
    };
    metrics::counter!("idp_token_requests_total", "grant" => grant).increment(1);
    match form.grant_type.as_str() {
        "authorization_code" => {
            let code = form
                .code
                .as_deref()
                .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
            state
                .tokens
                .exchange_code(
                    &client,
                    code,
                    form.redirect_uri.as_deref(),
                    form.code_verifier.as_deref(),
                )
                .await
        }
        "refresh_token" => {
            let token = form
                .refresh_token
                .as_deref()
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
            state
                .tokens
                .refresh(&client, token, form.scope.as_deref())
                .await
        }
        "" => Err(OAuthError::invalid_request("grant_type is missing")),
        _ => Err(OAuthError::unsupported_grant_type(
            "only authorization_code and refresh_token are supported",
        )),
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form = parse(&headers, &body)?;
        let client = client(&state, &headers, &form, "/revoke").await?;
        let token = form
            .token
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        state.tokens.revoke_token(&client, token).await
    }
    .await;
    match result {
        Ok(()) => no_store(axum::http::StatusCode::OK.into_response()),
        Err(e) => e.into_response(),
    }
}
