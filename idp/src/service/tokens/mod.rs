//! Codes, tokens and grants (the code exchange in `code`, rotation in `refresh`): issuing a code after authorization, exchanging it once, rotating
//! refresh tokens, and revoking everything a grant issued when a code or token is replayed.

mod code;
mod refresh;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::ephemeral::Ephemeral;
use shared::jwt::{Alg, Claims, to_claims};
use shared::{ClientId, Clock, Sid};

use super::clients::Client;
use super::keys::KeyRing;
use super::random_token;
use super::sessions::SignedInAccount;
use crate::oidc::acr::Acr;
use crate::oidc::claims::{AccessTokenClaims, IdTokenClaims, scoped_claims};
use crate::oidc::error::OAuthError;
use crate::oidc::request::AuthorizeRequest;
use crate::store::Database;
use crate::store::grants::{self, GrantRow, NewGrant, Redeemed};

/// What a code stands for until it is exchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: ClientId,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scope: String,
    pub sid: Sid,
    pub account: SignedInAccount,
    /// When the code stops being good (seconds); the store's TTL is only a backstop.
    #[serde(default = "i64::max_value")]
    pub expires_at: i64,
}

#[derive(Clone)]
pub struct Lifetimes {
    pub code: i64,
    pub access_token: i64,
    pub id_token: i64,
    pub refresh_token: i64,
}

#[derive(Clone)]
pub struct Tokens {
    pub db: Database,
    pub store: Ephemeral,
    pub keys: KeyRing,
    pub issuer: String,
    pub lifetimes: Lifetimes,
    pub clock: Clock,
}

use shared::http::sha256_hex;

fn code_key(code: &str) -> String {
    format!("code:{}", sha256_hex(code))
}

fn used_code_key(code: &str) -> String {
    format!("code-used:{}", sha256_hex(code))
}

fn grant_key(grant_id: &str) -> String {
    format!("grant:{grant_id}")
}

fn revoked_key(grant_id: &str) -> String {
    format!("grant-revoked:{grant_id}")
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

impl Tokens {
    fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.lifetimes.access_token).unwrap_or(300) + 60)
    }

    /// Rotates a refresh token. A used one presented again revokes its whole grant.
    pub fn id_token(
        &self,
        client: &Client,
        account: &SignedInAccount,
        sid: &Sid,
        nonce: Option<&str>,
        scope: &str,
        now: i64,
    ) -> anyhow::Result<String> {
        let claims = IdTokenClaims {
            iss: self.issuer.clone(),
            sub: account.sub.clone(),
            aud: client.client_id.clone(),
            azp: client.client_id.clone(),
            iat: now,
            exp: now + self.lifetimes.id_token,
            auth_time: account.auth_time,
            sid: sid.clone(),
            amr: account.amr.clone(),
            acr: account.acr,
            nonce: nonce.map(str::to_owned),
            scoped: scoped_claims(scope, &account.claims),
        };
        self.keys
            .sign(client.id_token_alg, "JWT", &to_claims(&claims)?)
    }

    fn access_token(
        &self,
        client: &Client,
        sub: &shared::AccountId,
        sid: &Sid,
        grant_id: &str,
        scope: &str,
        now: i64,
    ) -> anyhow::Result<String> {
        let claims = AccessTokenClaims {
            iss: self.issuer.clone(),
            sub: sub.clone(),
            aud: self.issuer.clone(),
            client_id: client.client_id.clone(),
            scope: scope.to_owned(),
            sid: sid.clone(),
            gid: grant_id.to_owned(),
            iat: now,
            exp: now + self.lifetimes.access_token,
            jti: random_token()[..32].to_owned(),
        };
        self.keys.sign(Alg::ES256, "at+jwt", &to_claims(&claims)?)
    }

    /// The access token's grant, if the token is good and the grant stands.
    pub async fn check_access_token(
        &self,
        token: &str,
    ) -> Result<(Claims, crate::store::grants::GrantRow), OAuthError> {
        let (header, claims) = self
            .keys
            .verify(token)
            .map_err(|_| OAuthError::invalid_token("the access token is not valid"))?;
        if header.token_type() != Some("at+jwt") {
            return Err(OAuthError::invalid_token("not an access token"));
        }
        let expect = shared::jwt::Expect {
            issuer: &self.issuer,
            audience: &self.issuer,
            now: self.clock.now(),
            leeway: 5,
            allow_expired: false,
        };
        shared::jwt::check_claims(&claims, &expect).map_err(|e| {
            tracing::info!(cause = %e, "an access token was refused");
            OAuthError::invalid_token("the access token is not valid")
        })?;
        let grant_id = claims
            .get("gid")
            .and_then(Value::as_str)
            .ok_or_else(|| OAuthError::invalid_token("no grant"))?;
        if self.store.get(&revoked_key(grant_id)).await?.is_some() {
            return Err(OAuthError::invalid_token("the grant was revoked"));
        }
        let grant = match self.store.get(&grant_key(grant_id)).await? {
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| OAuthError::server(e.to_string()))?
            }
            None => grants::by_id(&self.db, grant_id)
                .await?
                .ok_or_else(|| OAuthError::invalid_token("unknown grant"))?,
        };
        if grant.revoked_at.is_some() {
            return Err(OAuthError::invalid_token("the grant was revoked"));
        }
        Ok((claims, grant))
    }

    pub fn userinfo(&self, grant: &crate::store::grants::GrantRow) -> Claims {
        let claims: Claims = serde_json::from_str(&grant.claims).unwrap_or_default();
        let mut out = scoped_claims(&grant.scope, &claims);
        out.insert("sub".into(), Value::from(grant.sub.clone()));
        out
    }

    /// Revokes what a token belongs to, if it is this client's (RFC 7009).
    pub async fn revoke_token(&self, client: &Client, token: &str) -> Result<(), OAuthError> {
        let grant_id = if token.split('.').count() == 3 {
            match self.keys.verify(token) {
                Ok((_, claims))
                    if claims.get("client_id").and_then(Value::as_str)
                        == Some(client.client_id.as_str()) =>
                {
                    claims.get("gid").and_then(Value::as_str).map(str::to_owned)
                }
                _ => None,
            }
        } else {
            match grants::grant_of_refresh(&self.db, &sha256_hex(token)).await? {
                Some(id) => match grants::by_id(&self.db, &id).await? {
                    Some(g) if client.client_id == g.client_id.as_str() => Some(id),
                    _ => None,
                },
                None => None,
            }
        };
        if let Some(id) = grant_id {
            self.revoke_grant(&id).await?;
        }
        Ok(())
    }
}
