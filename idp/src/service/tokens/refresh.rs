//! Refresh tokens rotated on every use; a used one presented again revokes its whole grant.

use super::*;
use crate::oidc::claims::GrantedClaims;

impl Tokens {
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
        // The sign-in the grant came from, as it was: a refresh is no new authentication.
        let granted: GrantedClaims = serde_json::from_str(&grant.claims)
            .map_err(|e| OAuthError::server(format!("a stored grant does not parse: {e}")))?;
        let account = SignedInAccount {
            sub: grant.sub.as_str().into(),
            claims: granted.account,
            auth_time: grant.auth_time,
            amr: granted.amr.unwrap_or_else(|| vec!["pwd".into()]),
            acr: granted.acr.unwrap_or(Acr::Low),
            via_link: None,
        };
        let sid = Sid::from(grant.sid.as_str());
        let id_token = self.id_token(client, &account, &sid, None, &scope, now)?;
        let access_token = self.access_token(client, &account.sub, &sid, &grant.id, &scope, now)?;
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
}
