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
        let grant = match grants::rotate(
            &self.db,
            &sha256_hex(token),
            &sha256_hex(&next),
            client.client_id.as_str(),
            now,
        )
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
            // Not rotated: a wrong client must not spend the right client's next refresh.
            Redeemed::OtherClient => {
                return Err(OAuthError::invalid_grant(
                    "the refresh token was issued to another client",
                ));
            }
            Redeemed::Unknown => return Err(OAuthError::invalid_grant("unknown refresh token")),
        };
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

    /// The account's grants end with it (RFC 9700 §4.14.2): closed, disabled, signed out
    /// everywhere or given a new password. Revokes the standing grants of `sub` at the clients
    /// of node `node` whose sign-in was at or before `authenticated_by`, but those of session
    /// `keep` (the person who set a new password); their access tokens are refused at once.
    pub async fn revoke_account(
        &self,
        clients: &[String],
        sub: &str,
        authenticated_by: i64,
        keep: Option<&Sid>,
    ) -> anyhow::Result<usize> {
        let revoked = grants::revoke_of_account(
            &self.db,
            clients,
            sub,
            authenticated_by,
            keep.map(Sid::as_str),
            self.clock.now(),
        )
        .await?;
        let ttl =
            Duration::from_secs(u64::try_from(self.lifetimes.access_token).unwrap_or(300) + 60);
        for grant_id in &revoked {
            self.store.set(&revoked_key(grant_id), b"1", ttl).await?;
        }
        Ok(revoked.len())
    }
}
