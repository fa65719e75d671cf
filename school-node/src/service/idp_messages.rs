//! Messages the IdP did not take (refused, or past their deadline): the admin sees them with the
//! reason and tries them again or discards them.

use shared::profile::ProfileChanges;

use super::{Result, ServiceError};
use crate::sso::idp_api::IdpApi;
use crate::store::Database;
use crate::store::accounts as store;
use crate::store::idp_outbox::{self, DeadMessage, MessageKind};

pub async fn given_up(db: &Database) -> Result<Vec<DeadMessage>> {
    Ok(idp_outbox::dead_letters(db).await?)
}

/// Queues a given-up message again. A profile change (or a chosen language) is sent with the
/// account's data as it is now, so that an old value never overwrites a newer one that went
/// through meanwhile.
pub async fn retry(db: &Database, idp: Option<&IdpApi>, seq: i64) -> Result<()> {
    let message = idp_outbox::dead_letter(db, seq)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let mut payload = message.payload.clone();
    if MessageKind::parse(&message.kind) == Some(MessageKind::Profile) {
        let fields: ProfileChanges = serde_json::from_str(&message.payload).unwrap_or_default();
        let account = store::by_id(db, &message.account_id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        let data = account.data();
        let current: ProfileChanges = fields
            .into_keys()
            .map(|field| (field, data.get(field).map(str::to_owned)))
            .collect();
        payload = serde_json::to_string(&current).map_err(anyhow::Error::from)?;
    }
    if MessageKind::parse(&message.kind) == Some(MessageKind::Language)
        && let Some(now) = store::locale(db, &message.account_id).await?
    {
        payload = now;
    }
    if !idp_outbox::retry(db, seq, &payload, shared::retry::now_millis()).await? {
        return Err(ServiceError::NotFound);
    }
    if let Some(idp) = idp {
        idp.wake.notify_one();
    }
    Ok(())
}

pub async fn discard(db: &Database, seq: i64) -> Result<()> {
    if !idp_outbox::discard(db, seq).await? {
        return Err(ServiceError::NotFound);
    }
    Ok(())
}
