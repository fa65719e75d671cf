//! The `profile_changes` table: personal data changed here, waiting to reach the IdP. They are
//! sent oldest first, so the IdP sees one account's changes in the order they were made.

use shared::db::{Bind, Statement};
use shared::profile::ProfileChanges;

use super::{Database, Result, with_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingChange {
    pub seq: i64,
    pub account_id: String,
    pub changes: String,
    pub attempts: i32,
}

pub fn enqueue_statement<DB: sqlx::Database>(
    account_id: &str,
    changes: &ProfileChanges,
    at: i64,
) -> Statement<DB>
where
    String: Bind<DB>,
    i64: Bind<DB>,
{
    sqlx::query(
        "INSERT INTO profile_changes (account_id, changes, created_at, next_attempt_at) VALUES ($1, $2, $3, 0)",
    )
    .bind(account_id.to_owned())
    .bind(serde_json::to_string(changes).unwrap_or_else(|_| "{}".into()))
    .bind(at)
}

/// The oldest undelivered changes, if the first of them is due (a later one never overtakes it).
pub async fn due(db: &Database, now_millis: i64, limit: i64) -> Result<Vec<PendingChange>> {
    let first_due: Option<i64> = with_db!(db, pool => sqlx::query_scalar(
        "SELECT next_attempt_at FROM profile_changes WHERE delivered_at IS NULL ORDER BY seq LIMIT 1",
    )
    .fetch_optional(pool)
    .await?);
    if first_due.is_none_or(|at| at > now_millis) {
        return Ok(Vec::new());
    }
    Ok(with_db!(db, pool => sqlx::query_as(
        "SELECT CAST(seq AS BIGINT) AS seq, account_id, changes, attempts FROM profile_changes \
         WHERE delivered_at IS NULL ORDER BY seq LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?))
}

pub async fn delivered(db: &Database, seq: i64, at: i64) -> Result<()> {
    with_db!(db, pool => sqlx::query(
        "UPDATE profile_changes SET delivered_at = $2, attempts = attempts + 1, last_error = NULL WHERE seq = $1",
    )
    .bind(seq)
    .bind(at)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

pub async fn failed(db: &Database, seq: i64, next_at: i64, error: &str) -> Result<()> {
    with_db!(db, pool => sqlx::query(
        "UPDATE profile_changes SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE seq = $1",
    )
    .bind(seq)
    .bind(next_at)
    .bind(error)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Changes not yet delivered (for tests and the operator).
pub async fn pending_count(db: &Database) -> Result<i64> {
    Ok(with_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM profile_changes WHERE delivered_at IS NULL",
    )
    .fetch_one(pool)
    .await?))
}
