//! The `grants` and `refresh_tokens` tables: what a code exchange issued, refresh tokens in
//! rotation, and revocation of a whole grant when a token or code is replayed.

use super::{Database, Result, with_db};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct GrantRow {
    pub id: String,
    pub client_id: String,
    pub sub: String,
    pub sid: String,
    pub scope: String,
    pub claims: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

pub struct NewGrant<'a> {
    pub id: &'a str,
    pub client_id: &'a str,
    pub sub: &'a str,
    pub sid: &'a str,
    pub scope: &'a str,
    pub claims: &'a str,
    pub auth_time: i64,
    pub expires_at: i64,
}

const REFRESH_INSERT: &str = "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, sub, sid, scope, claims, \
                              auth_time, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Stores a grant and, when given, its first refresh token.
pub async fn insert(
    db: &Database,
    g: &NewGrant<'_>,
    refresh_hash: Option<&str>,
    at: i64,
) -> Result<()> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO grants (id, client_id, sub, sid, scope, claims, auth_time, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(g.id)
        .bind(g.client_id)
        .bind(g.sub)
        .bind(g.sid)
        .bind(g.scope)
        .bind(g.claims)
        .bind(g.auth_time)
        .bind(at)
        .bind(g.expires_at)
        .execute(&mut *tx)
        .await?;
        if let Some(hash) = refresh_hash {
            sqlx::query(REFRESH_INSERT)
                .bind(hash)
                .bind(g.id)
                .bind(g.client_id)
                .bind(g.sub)
                .bind(g.sid)
                .bind(g.scope)
                .bind(g.claims)
                .bind(g.auth_time)
                .bind(g.expires_at)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

pub async fn by_id(db: &Database, id: &str) -> Result<Option<GrantRow>> {
    with_db!(db, pool => sqlx::query_as(
        "SELECT id, client_id, sub, sid, scope, claims, auth_time, expires_at, revoked_at FROM grants WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await)
}

pub async fn revoke(db: &Database, id: &str, at: i64) -> Result<()> {
    with_db!(db, pool => sqlx::query("UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(at)
        .execute(pool)
        .await
        .map(|_| ())?);
    Ok(())
}

/// What presenting a refresh token found.
pub enum Redeemed {
    /// Unused until now: the grant, and the token is now used.
    Fresh(GrantRow),
    /// Used before: a replay. The grant id, so the caller can revoke it.
    Replayed(String),
    /// Issued to another client than the one presenting it: left as it was.
    OtherClient,
    Unknown,
}

/// Uses a refresh token of `client_id` once, if its grant stands, and stores its successor.
/// Two statements and no transaction: a crash between them costs the client a new sign-in,
/// never a second use. A token of another client is not touched.
pub async fn rotate(
    db: &Database,
    old_hash: &str,
    new_hash: &str,
    client_id: &str,
    at: i64,
) -> Result<Redeemed> {
    with_db!(db, pool => {
        let used: Option<GrantRow> = sqlx::query_as(
            "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND client_id = $3 AND used_at IS NULL AND expires_at > $2 \
             AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = refresh_tokens.grant_id AND g.revoked_at IS NOT NULL) \
             RETURNING grant_id AS id, client_id, sub, sid, scope, claims, auth_time, expires_at, \
             CAST(NULL AS BIGINT) AS revoked_at",
        )
        .bind(old_hash)
        .bind(at)
        .bind(client_id)
        .fetch_optional(pool)
        .await?;
        let Some(grant) = used else {
            let known: Option<(String, String, Option<i64>)> = sqlx::query_as(
                "SELECT grant_id, client_id, used_at FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(old_hash)
            .fetch_optional(pool)
            .await?;
            return Ok(match known {
                Some((_, owner, _)) if owner != client_id => Redeemed::OtherClient,
                Some((grant_id, _, Some(_))) => Redeemed::Replayed(grant_id),
                _ => Redeemed::Unknown,
            });
        };
        sqlx::query(REFRESH_INSERT)
            .bind(new_hash)
            .bind(&grant.id)
            .bind(&grant.client_id)
            .bind(&grant.sub)
            .bind(&grant.sid)
            .bind(&grant.scope)
            .bind(&grant.claims)
            .bind(grant.auth_time)
            .bind(grant.expires_at)
            .bind(at)
            .execute(pool)
            .await?;
        Ok(Redeemed::Fresh(grant))
    })
}

/// The grant of a refresh token, used or not (for revocation).
pub async fn grant_of_refresh(db: &Database, hash: &str) -> Result<Option<String>> {
    with_db!(db, pool => sqlx::query_scalar("SELECT grant_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_optional(pool)
        .await)
}

/// Revokes every standing grant of account `sub` at `client_ids` whose sign-in was at or
/// before `authenticated_by`, but those of session `keep_sid`; returns the grants revoked (so
/// that their access tokens can be refused at once too).
pub async fn revoke_of_account(
    db: &Database,
    client_ids: &[String],
    sub: &str,
    authenticated_by: i64,
    keep_sid: Option<&str>,
    at: i64,
) -> Result<Vec<String>> {
    if client_ids.is_empty() {
        return Ok(Vec::new());
    }
    // The client list is this registry's, never input: numbered placeholders, bound below.
    let placeholders: Vec<String> = (0..client_ids.len())
        .map(|i| format!("${}", i + 5))
        .collect();
    let sql = format!(
        "UPDATE grants SET revoked_at = $1 WHERE sub = $2 AND revoked_at IS NULL AND auth_time <= $3 \
         AND sid <> $4 AND client_id IN ({}) RETURNING id",
        placeholders.join(", ")
    );
    with_db!(db, pool => {
        let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .bind(at)
            .bind(sub)
            .bind(authenticated_by)
            .bind(keep_sid.unwrap_or(""));
        for id in client_ids {
            query = query.bind(id);
        }
        query.fetch_all(pool).await
    })
}
