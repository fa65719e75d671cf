//! Nothing grows forever: what the node no longer needs is deleted `keep` after it stopped
//! mattering — letters sent (their bodies were erased when sent), sign-in links used or
//! expired, messages the IdP has (profile changes, sign-outs).

use super::{Database, Result, with_db};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub letters: u64,
    pub sign_in_links: u64,
    pub idp_messages: u64,
}

/// Deletes what ended before `now - keep` (seconds).
pub async fn sweep(db: &Database, now: i64, keep: i64) -> Result<Swept> {
    let before = now - keep;
    let before_ms = before.saturating_mul(1_000);
    Ok(with_db!(db, pool => {
        let letters = sqlx::query("DELETE FROM mail_outbox WHERE sent_at IS NOT NULL AND sent_at < $1")
            .bind(before_ms).execute(pool).await?.rows_affected();
        let sign_in_links = sqlx::query(
            "DELETE FROM sign_in_tokens WHERE expires_at < $1 OR (used_at IS NOT NULL AND used_at < $1)",
        )
        .bind(before).execute(pool).await?.rows_affected();
        let idp_messages = sqlx::query(
            "DELETE FROM idp_outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1",
        )
        .bind(before_ms).execute(pool).await?.rows_affected();
        Swept { letters, sign_in_links, idp_messages }
    }))
}
