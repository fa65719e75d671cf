//! The nav bar's linked institutions, one list per account shared by all its sessions on every
//! instance: set at single sign-on from the ID token, and again whenever the IdP says a link of
//! the account was made or removed, so no page offers a jump that no longer exists.

use std::time::Duration;

use shared::ephemeral::Ephemeral;

use super::client::Institutions;

/// Longer than any session lasts.
const KEEP: Duration = Duration::from_secs(24 * 3600);

fn key(account_id: &str) -> String {
    format!("nav:{account_id}")
}

pub async fn set(store: &Ephemeral, account_id: &str, list: &Institutions) -> anyhow::Result<()> {
    store
        .set(&key(account_id), &serde_json::to_vec(list)?, KEEP)
        .await
}

/// The account's list, when single sign-on or the IdP has given one.
pub async fn get(store: &Ephemeral, account_id: &str) -> anyhow::Result<Option<Institutions>> {
    Ok(store
        .get(&key(account_id))
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}
