//! The `node_keys` table.

use super::{Database, Result, with_db};

/// A private key as stored; `Debug` leaves the key out.
#[derive(Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub private_pem: String,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_pem", &"***")
            .finish()
    }
}

/// The newest `n` keys, newest first: the current one and those before it.
pub async fn recent(db: &Database, n: i64) -> Result<Vec<KeyRow>> {
    Ok(
        with_db!(db, pool => sqlx::query_as("SELECT kid, alg, private_pem FROM node_keys ORDER BY created_at DESC, kid LIMIT $1")
        .bind(n)
        .fetch_all(pool)
        .await?),
    )
}

/// When the newest key was made (seconds), so a new one can be dated after it.
pub async fn newest_created_at(db: &Database) -> Result<Option<i64>> {
    Ok(
        with_db!(db, pool => sqlx::query_scalar("SELECT MAX(created_at) FROM node_keys")
        .fetch_one(pool)
        .await?),
    )
}

pub async fn newest(db: &Database) -> Result<Option<KeyRow>> {
    Ok(
        with_db!(db, pool => sqlx::query_as("SELECT kid, alg, private_pem FROM node_keys ORDER BY created_at DESC, kid LIMIT 1")
        .fetch_optional(pool)
        .await?),
    )
}

pub async fn insert(db: &Database, kid: &str, alg: &str, pem: &str, at: i64) -> Result<()> {
    with_db!(db, pool => sqlx::query("INSERT INTO node_keys (kid, alg, private_pem, created_at) VALUES ($1, $2, $3, $4)")
        .bind(kid)
        .bind(alg)
        .bind(pem)
        .bind(at)
        .execute(pool)
        .await
        .map(|_| ())?);
    Ok(())
}
