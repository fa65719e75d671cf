//! The IdP's side of the federation API: asking a school node to check a password. Both the
//! question and the answer are signed JWTs, checked against the sender's published keys.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::jwt::{Alg, Claims, Expect, check_claims};

use super::clients::Client;
use super::keys::KeyRing;

/// What a node answered about a username and password.
#[derive(Debug)]
pub enum CheckOutcome {
    SignedIn {
        sub: String,
        claims: Claims,
    },
    Invalid,
    Ambiguous,
    Throttled {
        minutes: u64,
    },
    /// The node could not be asked or gave no valid answer.
    Unavailable,
}

#[derive(Serialize, Deserialize)]
pub struct PasswordCheck {
    pub username: String,
    pub password: String,
    pub client_ip: String,
}

pub const PASSWORD_CHECK_PATH: &str = "/federation/v1/password-check";

/// Claims a node may tell about its account in an answer.
pub const PROFILE_CLAIMS: [&str; 6] = [
    "given_name",
    "family_name",
    "email",
    "phone_number",
    "name",
    "must_change_password",
];

pub async fn check_password(
    http: &reqwest::Client,
    keys: &KeyRing,
    issuer: &str,
    client: &Client,
    check: &PasswordCheck,
) -> CheckOutcome {
    match ask(http, keys, issuer, client, check).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::warn!(client = %client.client_id, error = %format!("{e:#}"), "password check failed");
            CheckOutcome::Unavailable
        }
    }
}

async fn ask(
    http: &reqwest::Client,
    keys: &KeyRing,
    issuer: &str,
    client: &Client,
    check: &PasswordCheck,
) -> anyhow::Result<CheckOutcome> {
    let base = client
        .federation_url
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("the client has no federation_url"))?;
    let jwks = client
        .jwks
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the client has no jwks_uri"))?;
    let now = shared::jwt::now();
    let jti = super::sessions::random_token();
    let request =
        json!({ "iss": issuer, "aud": client.client_id, "iat": now, "exp": now + 60, "jti": jti });
    let bearer = keys.sign(
        Alg::ES256,
        "fed+jwt",
        request.as_object().expect("an object"),
    )?;
    let response = http
        .post(format!(
            "{}{PASSWORD_CHECK_PATH}",
            base.trim_end_matches('/')
        ))
        .bearer_auth(bearer)
        .json(check)
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .error_for_status()?;
    let answer = response.text().await?;
    let (header, claims) = jwks.verify(answer.trim()).await?;
    anyhow::ensure!(
        header.token_type() == Some("fed+jwt"),
        "the answer is not a federation JWT"
    );
    check_claims(
        &claims,
        &Expect {
            issuer: &client.client_id,
            audience: issuer,
            now,
            leeway: 30,
            allow_expired: false,
        },
    )?;
    anyhow::ensure!(
        claims.get("in_response_to").and_then(Value::as_str) == Some(jti.as_str()),
        "the answer is for another question"
    );
    let outcome = match claims.get("outcome").and_then(Value::as_str) {
        Some("ok") => {
            let sub = claims
                .get("sub")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow::anyhow!("no sub"))?
                .to_owned();
            let profile = PROFILE_CLAIMS
                .iter()
                .filter_map(|name| claims.get(*name).map(|v| ((*name).to_owned(), v.clone())))
                .collect();
            CheckOutcome::SignedIn {
                sub,
                claims: profile,
            }
        }
        Some("invalid") => CheckOutcome::Invalid,
        Some("ambiguous") => CheckOutcome::Ambiguous,
        Some("throttled") => CheckOutcome::Throttled {
            minutes: claims.get("minutes").and_then(Value::as_u64).unwrap_or(15),
        },
        other => anyhow::bail!("unknown outcome {other:?}"),
    };
    Ok(outcome)
}
