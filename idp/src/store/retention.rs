//! Nothing grows forever: what the IdP no longer needs is deleted, `keep` after it stopped
//! mattering — grants and their refresh tokens after they expired, outbox rows after they were
//! delivered or given up, retired signing keys once they left the JWKS.

use super::{Database, Result, with_db};

/// How many rows each sweep deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub grants: u64,
    pub refresh_tokens: u64,
    pub outbox: u64,
    pub signing_keys: u64,
}

/// Deletes what ended before `now - keep` (seconds; the outbox counts in milliseconds).
pub async fn sweep(db: &Database, now: i64, keep: i64) -> Result<Swept> {
    let before = now - keep;
    let before_ms = before.saturating_mul(1_000);
    with_db!(db, pool => {
        let refresh_tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(before).execute(pool).await?.rows_affected();
        let grants = sqlx::query("DELETE FROM grants WHERE expires_at < $1")
            .bind(before).execute(pool).await?.rows_affected();
        let outbox = sqlx::query(
            "DELETE FROM outbox WHERE (delivered_at IS NOT NULL AND delivered_at < $1) \
             OR (gave_up_at IS NOT NULL AND gave_up_at < $1)",
        )
        .bind(before_ms).execute(pool).await?.rows_affected();
        let signing_keys = sqlx::query(
            "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND drop_at IS NOT NULL AND drop_at < $1",
        )
        .bind(now).execute(pool).await?.rows_affected();
        Ok(Swept { grants, refresh_tokens, outbox, signing_keys })
    })
}

/// Rows in each table the sweep keeps bounded, for tests and the operator.
pub async fn sizes(db: &Database) -> Result<[i64; 4]> {
    let mut out = [0; 4];
    for (i, table) in ["grants", "refresh_tokens", "outbox", "signing_keys"]
        .iter()
        .enumerate()
    {
        out[i] = with_db!(db, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM {table}"
        )))
        .fetch_one(pool)
        .await?);
    }
    Ok(out)
}
