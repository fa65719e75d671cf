//! Codes, tokens and grants: issuing a code after authorization, exchanging it once, rotating
//! refresh tokens, and revoking everything a grant issued when a code or token is replayed.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
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
use crate::oidc::pkce;
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

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

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
    pub async fn issue_code(
        &self,
        request: &AuthorizeRequest,
        sid: &Sid,
        account: &SignedInAccount,
    ) -> anyhow::Result<String> {
        let code = random_token();
        let grant = CodeGrant {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            scope: request.scope.clone(),
            sid: sid.clone(),
            account: account.clone(),
            expires_at: self.clock.now() + self.lifetimes.code,
        };
        let ttl = Duration::from_secs(u64::try_from(self.lifetimes.code).unwrap_or(60));
        self.store
            .set(&code_key(&code), &serde_json::to_vec(&grant)?, ttl)
            .await?;
        Ok(code)
    }

    /// Exchanges a code once. A second use finds the first use's grant and revokes it.
    pub async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let Some(bytes) = self.store.take(&code_key(code)).await? else {
            if let Some(grant_id) = self.store.get(&used_code_key(code)).await? {
                let grant_id = String::from_utf8_lossy(&grant_id).into_owned();
                self.revoke_grant(&grant_id).await?;
                tracing::warn!(%grant_id, "an authorization code was used twice: its grant is revoked");
            }
            return Err(OAuthError::invalid_grant(
                "the code is invalid, expired or already used",
            ));
        };
        let grant: CodeGrant =
            serde_json::from_slice(&bytes).map_err(|e| OAuthError::server(e.to_string()))?;
        if grant.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        let now = self.clock.now();
        if now >= grant.expires_at {
            return Err(OAuthError::invalid_grant(
                "the code is invalid, expired or already used",
            ));
        }
        if redirect_uri != Some(grant.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        let verifier =
            verifier.ok_or_else(|| OAuthError::invalid_grant("code_verifier is required"))?;
        if !pkce::verify(verifier, &grant.code_challenge) {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        let grant_id = uuid::Uuid::new_v4().to_string();
        let claims = serde_json::to_string(&grant.account.claims)
            .map_err(|e| OAuthError::server(e.to_string()))?;
        // A refresh token outlives the session, so only offline_access gets one, and only such a
        // grant needs the database; the others live as long as their access token, in the
        // ephemeral store, which keeps the silent-SSO hop free of SQL.
        let offline = grant
            .scope
            .split_whitespace()
            .any(|s| s == "offline_access");
        let refresh = offline.then(random_token);
        let row = GrantRow {
            id: grant_id.clone(),
            client_id: client.client_id.to_string(),
            sub: grant.account.sub.to_string(),
            sid: grant.sid.to_string(),
            scope: grant.scope.clone(),
            claims,
            auth_time: grant.account.auth_time,
            expires_at: now
                + if offline {
                    self.lifetimes.refresh_token
                } else {
                    self.lifetimes.access_token
                },
            revoked_at: None,
        };
        match &refresh {
            Some(token) => {
                let new = NewGrant {
                    id: &row.id,
                    client_id: &row.client_id,
                    sub: &row.sub,
                    sid: &row.sid,
                    scope: &row.scope,
                    claims: &row.claims,
                    auth_time: row.auth_time,
                    expires_at: row.expires_at,
                };
                grants::insert(&self.db, &new, Some(&sha256_hex(token)), now).await?;
            }
            None => {
                let bytes =
                    serde_json::to_vec(&row).map_err(|e| OAuthError::server(e.to_string()))?;
                self.store
                    .set(&grant_key(&grant_id), &bytes, self.access_token_ttl())
                    .await?;
            }
        }
        // A replay is detected while a replay could still matter: well past the code's lifetime.
        let keep =
            Duration::from_secs(u64::try_from(self.lifetimes.code.max(60) * 10).unwrap_or(600));
        self.store
            .set(&used_code_key(code), grant_id.as_bytes(), keep)
            .await?;
        let id_token = self.id_token(
            client,
            &grant.account,
            &grant.sid,
            grant.nonce.as_deref(),
            &grant.scope,
            now,
        )?;
        let access_token = self.access_token(
            client,
            &grant.account.sub,
            &grant.sid,
            &grant_id,
            &grant.scope,
            now,
        )?;
        let scope = grant.scope;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.lifetimes.access_token,
            id_token: Some(id_token),
            refresh_token: refresh,
            scope,
        })
    }

    fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.lifetimes.access_token).unwrap_or(300) + 60)
    }

    /// Rotates a refresh token. A used one presented again revokes its whole grant.
    pub async fn refresh(
        &self,
        client: &Client,
        token: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.clock.now();
        let next = random_token();
        let grant = match grants::rotate(&self.db, &sha256_hex(token), &sha256_hex(&next), now)
            .await?
        {
            Redeemed::Fresh(grant) => grant,
            Redeemed::Replayed(grant_id) => {
                self.revoke_grant(&grant_id).await?;
                tracing::warn!(%grant_id, "a refresh token was used twice: its grant is revoked");
                return Err(OAuthError::invalid_grant(
                    "the refresh token was already used",
                ));
            }
            Redeemed::Unknown => return Err(OAuthError::invalid_grant("unknown refresh token")),
        };
        if client.client_id != grant.client_id.as_str() {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        if grant.revoked_at.is_some() || grant.expires_at < now {
            return Err(OAuthError::invalid_grant(
                "the grant was revoked or has expired",
            ));
        }
        let scope = match scope {
            Some(asked)
                if asked
                    .split_whitespace()
                    .all(|s| grant.scope.split_whitespace().any(|g| g == s)) =>
            {
                asked.to_owned()
            }
            Some(_) => {
                return Err(OAuthError::invalid_scope(
                    "a refresh cannot widen the scope",
                ));
            }
            None => grant.scope.clone(),
        };
        let account = SignedInAccount {
            sub: grant.sub.as_str().into(),
            claims: serde_json::from_str(&grant.claims).unwrap_or_default(),
            auth_time: grant.auth_time,
            amr: vec!["pwd".into()],
            acr: Acr::Low,
            via_link: None,
        };
        let sid = Sid::from(grant.sid.as_str());
        let id_token = self.id_token(client, &account, &sid, None, &scope, now)?;
        let access_token =
            self.access_token(client, &account.sub, &sid, &grant.id, &scope, now)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.lifetimes.access_token,
            id_token: Some(id_token),
            refresh_token: Some(next),
            scope,
        })
    }

    pub async fn revoke_grant(&self, grant_id: &str) -> anyhow::Result<()> {
        grants::revoke(&self.db, grant_id, self.clock.now()).await?;
        let ttl =
            Duration::from_secs(u64::try_from(self.lifetimes.access_token).unwrap_or(300) + 60);
        self.store.set(&revoked_key(grant_id), b"1", ttl).await
    }

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
        self.keys.sign(client.id_token_alg, "JWT", &to_claims(&claims)?)
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
        shared::jwt::check_claims(&claims, &expect)
            .map_err(|e| OAuthError::invalid_token(e.to_string()))?;
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
