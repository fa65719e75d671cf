//! The `enrolment_tokens` table: one-time tokens with which a new school node registers.
//! Only a hash of each token is stored.

use super::{Database, Result, with_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EnrolmentRow {
    pub token_hash: String,
    pub client_id: String,
    pub name: String,
    /// Every URI the node registers must lie under this address.
    pub public_url: String,
    /// The personal code of the operator who made it.
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

const COLUMNS: &str =
    "token_hash, client_id, name, public_url, created_by, created_at, expires_at, used_at";

pub async fn insert(db: &Database, row: &EnrolmentRow) -> Result<()> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO enrolment_tokens (token_hash, client_id, name, public_url, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&row.token_hash)
    .bind(&row.client_id)
    .bind(&row.name)
    .bind(&row.public_url)
    .bind(&row.created_by)
    .bind(row.created_at)
    .bind(row.expires_at)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Marks the token used and returns it, when it is unused and unexpired: one statement, so
/// of requests racing with one token exactly one gets it.
pub async fn take(db: &Database, token_hash: &str, now: i64) -> Result<Option<EnrolmentRow>> {
    let sql = format!(
        "UPDATE enrolment_tokens SET used_at = $2 \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING {COLUMNS}"
    );
    with_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await)
}

/// Makes a taken token usable again: the registration it was taken for registered nothing.
pub async fn give_back(db: &Database, token_hash: &str) -> Result<()> {
    with_db!(db, pool => sqlx::query("UPDATE enrolment_tokens SET used_at = NULL WHERE token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// Unused, unexpired tokens, newest first.
pub async fn open(db: &Database, now: i64) -> Result<Vec<EnrolmentRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM enrolment_tokens WHERE used_at IS NULL AND expires_at > $1 \
         ORDER BY created_at DESC LIMIT 100"
    );
    with_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(now)
        .fetch_all(pool)
        .await)
}

/// Deletes tokens that ended (used or expired) before `before`.
pub async fn sweep(db: &Database, before: i64) -> Result<u64> {
    with_db!(db, pool => sqlx::query(
        "DELETE FROM enrolment_tokens WHERE expires_at < $1 OR (used_at IS NOT NULL AND used_at < $1)",
    )
    .bind(before)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
}
