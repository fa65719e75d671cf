//! Client authentication at the token and revocation endpoints: `client_secret_basic`,
//! `client_secret_post` and `private_key_jwt`, and a client's secrets with their expiries.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use shared::ephemeral::Ephemeral;
use shared::jwt::{Expect, check_claims};
use subtle::ConstantTimeEq;

use super::clients::{Client, Registry, unverified_claim};
use crate::config::hash_secret;
use crate::oidc::error::OAuthError;

/// What a client sent to prove who it is.
#[derive(Default)]
pub struct Credentials {
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads `Authorization: Basic …` (RFC 6749 §2.3.1: both parts form-url-encoded).
pub fn basic_credentials(header: Option<&str>) -> Result<Option<(String, String)>, OAuthError> {
    use base64::Engine;
    let Some(value) = header else { return Ok(None) };
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
    Ok(Some((percent_decode(id), percent_decode(secret))))
}

/// Whether `presented` is one of the client's secrets that has not expired at `now`.
fn secret_matches(client: &Client, presented: &str, now: i64) -> bool {
    let presented = hash_secret(presented);
    client
        .secrets
        .iter()
        .filter(|(_, expires)| expires.is_none_or(|at| now < at))
        .fold(false, |found, (hash, _)| {
            found | bool::from(hash.as_bytes().ct_eq(presented.as_bytes()))
        })
}

/// Client authentication at the token and revocation endpoints.
#[derive(Clone)]
pub struct ClientAuth {
    pub registry: Registry,
    /// Remembers assertions' `jti`s against replay.
    pub replay: Ephemeral,
    pub issuer: String,
    pub clock: shared::Clock,
}

impl ClientAuth {
    /// The client, authenticated by whichever one method it used at `endpoint` (a path).
    pub async fn authenticate(
        &self,
        endpoint: &str,
        creds: &Credentials,
    ) -> Result<Arc<Client>, OAuthError> {
        let endpoint = format!("{}{endpoint}", self.issuer);
        authenticate(
            &self.registry,
            &self.replay,
            &self.issuer,
            &endpoint,
            creds,
            self.clock.now(),
        )
        .await
    }
}

/// Authenticates the client by whichever one method it used.
async fn authenticate(
    registry: &Registry,
    replay: &Ephemeral,
    issuer: &str,
    endpoint: &str,
    creds: &Credentials,
    now: i64,
) -> Result<Arc<Client>, OAuthError> {
    let methods = usize::from(creds.basic.is_some())
        + usize::from(creds.client_secret.is_some())
        + usize::from(creds.assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        ));
    }
    if let Some((id, secret)) = &creds.basic {
        if creds.client_id.as_deref().is_some_and(|c| c != id) {
            return Err(OAuthError::invalid_client(
                "client_id does not match the credentials",
            ));
        }
        let client = registry
            .get(id)
            .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
        return if secret_matches(&client, secret, now) {
            Ok(client)
        } else {
            Err(OAuthError::invalid_client("wrong client secret"))
        };
    }
    if let Some(secret) = &creds.client_secret {
        let id = creds
            .client_id
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_client("client_id is missing"))?;
        let client = registry
            .get(id)
            .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
        return if secret_matches(&client, secret, now) {
            Ok(client)
        } else {
            Err(OAuthError::invalid_client("wrong client secret"))
        };
    }
    if let Some(assertion) = &creds.assertion {
        if creds.assertion_type.as_deref() != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_client(
                "unsupported client_assertion_type",
            ));
        }
        return private_key_jwt(
            registry,
            replay,
            issuer,
            endpoint,
            creds.client_id.as_deref(),
            assertion,
            now,
        )
        .await;
    }
    Err(OAuthError::invalid_client(
        "client authentication is required",
    ))
}

async fn private_key_jwt(
    registry: &Registry,
    replay: &Ephemeral,
    issuer: &str,
    endpoint: &str,
    client_id: Option<&str>,
    assertion: &str,
    now: i64,
) -> Result<Arc<Client>, OAuthError> {
    let unverified_iss = unverified_claim(assertion, "iss")
        .ok_or_else(|| OAuthError::invalid_client("malformed client_assertion"))?;
    if client_id.is_some_and(|c| c != unverified_iss) {
        return Err(OAuthError::invalid_client(
            "client_id does not match the assertion",
        ));
    }
    let client = registry
        .get(&unverified_iss)
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    let jwks = client
        .jwks
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_client("the client has no registered keys"))?;
    let (_, claims) = jwks
        .verify(assertion)
        .await
        .map_err(|e| {
            // The cause (an unreachable JWKS, a bad signature) is for the log, not the caller.
            tracing::warn!(client = %client.client_id, cause = %format!("{e:#}"), "a client assertion was not verified");
            OAuthError::invalid_client("the client assertion could not be verified")
        })?;
    if claims.get("sub").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err(OAuthError::invalid_client(
            "client_assertion sub must be the client_id",
        ));
    }
    let audience_ok = [issuer, endpoint].iter().any(|aud| {
        check_claims(
            &claims,
            &Expect {
                issuer: client.client_id.as_str(),
                audience: aud,
                now,
                leeway: 30,
                allow_expired: false,
            },
        )
        .is_ok()
    });
    if !audience_ok {
        return Err(OAuthError::invalid_client(
            "client_assertion has the wrong audience or has expired",
        ));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .ok_or_else(|| OAuthError::invalid_client("client_assertion needs a jti"))?;
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
    let keep = Duration::from_secs(u64::try_from((exp - now).clamp(1, 3600)).unwrap_or(60) + 60);
    let fresh = replay
        .set_new(&format!("assertion:{}:{jti}", client.client_id), b"1", keep)
        .await
        .map_err(|e| OAuthError::server(format!("{e:#}")))?;
    if !fresh {
        return Err(OAuthError::invalid_client(
            "client_assertion was used before",
        ));
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_with(secrets: Vec<(String, Option<i64>)>) -> Client {
        Client {
            client_id: "rp".into(),
            name: "RP".into(),
            logo_url: None,
            secrets,
            jwks: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            frontchannel_logout_uri: None,
            federation_url: None,
            node_id: "rp".into(),
            id_token_alg: shared::jwt::Alg::ES256,
            disabled: false,
        }
    }

    #[test]
    fn two_secrets_are_good_until_each_expires() {
        let client = client_with(vec![
            (hash_secret("old"), Some(1_000)),
            (hash_secret("new"), None),
        ]);
        assert!(secret_matches(&client, "old", 999));
        assert!(secret_matches(&client, "new", 999));
        assert!(!secret_matches(&client, "old", 1_000), "expired");
        assert!(secret_matches(&client, "new", 5_000));
        assert!(!secret_matches(&client, "other", 999));
        assert!(!secret_matches(&client_with(Vec::new()), "", 0));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode("my%3Aclient:p%40ss+word");
        let got = basic_credentials(Some(&format!("Basic {encoded}")))
            .unwrap()
            .unwrap();
        assert_eq!(got, ("my:client".to_owned(), "p@ss word".to_owned()));
        assert!(basic_credentials(Some("Basic !!!")).is_err());
        assert_eq!(basic_credentials(Some("Bearer x")).unwrap(), None);
    }
}
