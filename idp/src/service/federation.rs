//! The IdP's side of the federation API: asking a school node to check a password. Both the
//! question and the answer are signed JWTs, checked against the sender's published keys.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::jwt::{Alg, Claims, Expect, check_claims};
use shared::profile::SharedProfile;

use shared::ephemeral::Ephemeral;

use super::clients::{Client, Registry, unverified_claim};
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

/// A fresh bearer JWT for one call to `client`'s node, and its jti.
pub fn bearer(keys: &KeyRing, issuer: &str, client: &Client) -> anyhow::Result<(String, String)> {
    let now = shared::jwt::now();
    let jti = super::sessions::random_token();
    let request =
        json!({ "iss": issuer, "aud": client.client_id, "iat": now, "exp": now + 60, "jti": jti });
    let token = keys.sign(
        Alg::ES256,
        "fed+jwt",
        request.as_object().expect("an object"),
    )?;
    Ok((jti, token))
}

pub fn node_url(client: &Client, path: &str) -> anyhow::Result<String> {
    let base = client
        .federation_url
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("the client has no federation_url"))?;
    Ok(format!("{}{path}", base.trim_end_matches('/')))
}

/// Sends `body` to the node's federation API and returns its signed answer's claims, checked:
/// signature against the node's keys, typ, iss, aud, freshness, and that it answers this call.
async fn ask_signed(
    http: &reqwest::Client,
    keys: &KeyRing,
    issuer: &str,
    client: &Client,
    path: &str,
    body: &impl Serialize,
) -> anyhow::Result<Claims> {
    let jwks = client
        .jwks
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the client has no jwks_uri"))?;
    let (jti, bearer) = bearer(keys, issuer, client)?;
    let answer = http
        .post(node_url(client, path)?)
        .bearer_auth(bearer)
        .json(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
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
            now: shared::jwt::now(),
            leeway: 30,
            allow_expired: false,
        },
    )?;
    anyhow::ensure!(
        claims.get("in_response_to").and_then(Value::as_str) == Some(jti.as_str()),
        "the answer is for another question"
    );
    Ok(claims)
}

fn token_claims(claims: &Claims) -> Claims {
    PROFILE_CLAIMS
        .iter()
        .filter_map(|name| claims.get(*name).map(|v| ((*name).to_owned(), v.clone())))
        .collect()
}

async fn ask(
    http: &reqwest::Client,
    keys: &KeyRing,
    issuer: &str,
    client: &Client,
    check: &PasswordCheck,
) -> anyhow::Result<CheckOutcome> {
    let claims = ask_signed(http, keys, issuer, client, PASSWORD_CHECK_PATH, check).await?;
    let outcome = match claims.get("outcome").and_then(Value::as_str) {
        Some("ok") => CheckOutcome::SignedIn {
            sub: required(&claims, "sub")?,
            claims: token_claims(&claims),
        },
        Some("invalid") => CheckOutcome::Invalid,
        Some("ambiguous") => CheckOutcome::Ambiguous,
        Some("throttled") => CheckOutcome::Throttled {
            minutes: claims.get("minutes").and_then(Value::as_u64).unwrap_or(15),
        },
        other => anyhow::bail!("unknown outcome {other:?}"),
    };
    Ok(outcome)
}

fn required(claims: &Claims, name: &str) -> anyhow::Result<String> {
    Ok(claims
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow::anyhow!("no {name}"))?
        .to_owned())
}

fn optional(claims: &Claims, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

pub const ACCOUNT_PATH: &str = "/federation/v1/account";
pub const PROFILE_PATH: &str = "/federation/v1/profile";

/// Which account to look up at a node: by its id, or by personal code (an eID sign-in).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AccountQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_code: Option<String>,
}

/// An active account at a node, as its node describes it now.
#[derive(Debug, Clone)]
pub struct NodeAccount {
    pub sub: String,
    /// What tokens may carry.
    pub claims: Claims,
    pub profile: SharedProfile,
    /// When the node last changed it (seconds), to prefer the newest value when linking.
    pub updated_at: i64,
}

/// The node's account for `query`; None when the node has no active one.
pub async fn lookup_account(
    http: &reqwest::Client,
    keys: &KeyRing,
    issuer: &str,
    client: &Client,
    query: &AccountQuery,
) -> anyhow::Result<Option<NodeAccount>> {
    let claims = ask_signed(http, keys, issuer, client, ACCOUNT_PATH, query).await?;
    if claims.get("outcome").and_then(Value::as_str) != Some("ok") {
        return Ok(None);
    }
    let profile = SharedProfile {
        first_name: required(&claims, "given_name")?,
        last_name: required(&claims, "family_name")?,
        personal_code: optional(&claims, "personal_code"),
        email: optional(&claims, "email"),
        phone: optional(&claims, "phone_number"),
        address: optional(&claims, "address"),
    };
    Ok(Some(NodeAccount {
        sub: required(&claims, "sub")?,
        claims: token_claims(&claims),
        profile,
        updated_at: claims
            .get("updated_at")
            .and_then(Value::as_i64)
            .unwrap_or(0),
    }))
}

/// Checks a node's bearer token on a call to the IdP: signed by a registered node's key, typ
/// `fed+jwt`, iss the node, aud this IdP, fresh, and used once. Returns the calling node.
pub async fn authenticate_node(
    registry: &Registry,
    issuer: &str,
    replay: &Ephemeral,
    bearer: &str,
) -> anyhow::Result<std::sync::Arc<Client>> {
    let iss = unverified_claim(bearer, "iss").ok_or_else(|| anyhow::anyhow!("malformed token"))?;
    let client = registry
        .get(&iss)
        .filter(|c| c.node_id == c.client_id)
        .ok_or_else(|| anyhow::anyhow!("{iss} is not a registered node"))?;
    let jwks = client
        .jwks
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the node has no registered keys"))?;
    let (header, claims) = jwks.verify(bearer).await?;
    anyhow::ensure!(
        header.token_type() == Some("fed+jwt"),
        "not a federation token"
    );
    check_claims(
        &claims,
        &Expect {
            issuer: &client.client_id,
            audience: issuer,
            now: shared::jwt::now(),
            leeway: 30,
            allow_expired: false,
        },
    )?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow::anyhow!("no jti"))?;
    anyhow::ensure!(
        replay
            .set_new(
                &format!("fed-jti:{iss}:{jti}"),
                b"1",
                Duration::from_secs(180)
            )
            .await?,
        "the token was used before"
    );
    Ok(client)
}
