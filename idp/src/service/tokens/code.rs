//! Issuing an authorization code and exchanging it once; a replayed code revokes what the
//! first exchange issued (RFC 9700 §4.2.4).

use std::time::Duration;

use super::*;
use crate::oidc::claims::GrantedClaims;
use crate::oidc::pkce;

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
        let granted = GrantedClaims {
            account: grant.account.claims.clone(),
            amr: Some(grant.account.amr.clone()),
            acr: Some(grant.account.acr),
        };
        let claims =
            serde_json::to_string(&granted).map_err(|e| OAuthError::server(e.to_string()))?;
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
        // A replay is detected while a replay could still matter: well past the code's lifetime.
        let keep =
            Duration::from_secs(u64::try_from(self.lifetimes.code.max(60) * 10).unwrap_or(600));
        let used = used_code_key(code);
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
                self.store.set(&used, grant_id.as_bytes(), keep).await?;
            }
            None => {
                let bytes =
                    serde_json::to_vec(&row).map_err(|e| OAuthError::server(e.to_string()))?;
                // The grant and the code's replay marker in one trip: a silent hop's exchange.
                self.store
                    .set_all(&[
                        (&grant_key(&grant_id), &bytes, self.access_token_ttl()),
                        (&used, grant_id.as_bytes(), keep),
                    ])
                    .await?;
            }
        }
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
}
