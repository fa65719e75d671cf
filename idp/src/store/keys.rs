//! The `signing_keys` table: the IdP's private keys, current and retired.

use super::{Database, Result, with_db};

/// A private key as stored; `Debug` leaves the key out.
#[derive(Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub private_pem: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub drop_at: Option<i64>,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_pem", &"***")
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// Replaces a key's stored value (sealed anew), unless another process did already.
pub async fn reseal(db: &Database, kid: &str, was: &str, sealed: &str) -> Result<()> {
    with_db!(db, pool => sqlx::query("UPDATE signing_keys SET private_pem = $3 WHERE kid = $1 AND private_pem = $2")
        .bind(kid)
        .bind(was)
        .bind(sealed)
        .execute(pool)
        .await
        .map(|_| ())?);
    Ok(())
}

/// Keys still published: current ones and retired ones whose tokens may still be alive.
pub async fn published(db: &Database, at: i64) -> Result<Vec<KeyRow>> {
    with_db!(db, pool => sqlx::query_as(
        "SELECT kid, alg, private_pem, created_at, retired_at, drop_at FROM signing_keys \
         WHERE drop_at IS NULL OR drop_at > $1 ORDER BY created_at, kid",
    )
    .bind(at)
    .fetch_all(pool)
    .await)
}

const INSERT_CURRENT: &str = "INSERT INTO signing_keys (kid, alg, private_pem, created_at) VALUES ($1, $2, $3, $4) \
                              ON CONFLICT (alg) WHERE retired_at IS NULL DO NOTHING";

/// Stores the first current key of `alg`; false when another process made one first.
pub async fn insert_first(db: &Database, kid: &str, alg: &str, pem: &str, at: i64) -> Result<bool> {
    let inserted = with_db!(db, pool => sqlx::query(INSERT_CURRENT)
        .bind(kid)
        .bind(alg)
        .bind(pem)
        .bind(at)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(inserted == 1)
}

/// Retires the current key of `alg` (it leaves the JWKS at `drop_at`) and stores the new one,
/// in one transaction.
pub async fn rotate(
    db: &Database,
    kid: &str,
    alg: &str,
    pem: &str,
    at: i64,
    drop_at: i64,
) -> Result<()> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $2, drop_at = $3 WHERE alg = $1 AND retired_at IS NULL")
            .bind(alg)
            .bind(at)
            .bind(drop_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(INSERT_CURRENT)
            .bind(kid)
            .bind(alg)
            .bind(pem)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}
