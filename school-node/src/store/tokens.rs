//! The `sign_in_tokens` table: single-use, expiring sign-in links, stored as hashes.

use super::{Database, Result, with_db};

pub async fn insert(
    db: &Database,
    token_hash: &str,
    account_id: &str,
    at: i64,
    expires_at: i64,
) -> Result<()> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO sign_in_tokens (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(account_id)
    .bind(at)
    .bind(expires_at)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// The account of a link that is neither used nor expired, without using it.
pub async fn peek(db: &Database, token_hash: &str, at: i64) -> Result<Option<String>> {
    Ok(with_db!(db, pool => sqlx::query_scalar(
        "SELECT account_id FROM sign_in_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(at)
    .fetch_optional(pool)
    .await?))
}

/// Uses a link: succeeds once, for one caller, before it expires.
pub async fn consume(db: &Database, token_hash: &str, at: i64) -> Result<Option<String>> {
    Ok(with_db!(db, pool => sqlx::query_scalar(
        "UPDATE sign_in_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         RETURNING account_id",
    )
    .bind(token_hash)
    .bind(at)
    .fetch_optional(pool)
    .await?))
}

/// Ends the account's other links, e.g. once a password has been chosen through one of them.
pub async fn revoke_for_account(db: &Database, account_id: &str, at: i64) -> Result<()> {
    with_db!(db, pool => sqlx::query("UPDATE sign_in_tokens SET used_at = $2 WHERE account_id = $1 AND used_at IS NULL")
        .bind(account_id)
        .bind(at)
        .execute(pool)
        .await
        .map(|_| ())?);
    Ok(())
}
