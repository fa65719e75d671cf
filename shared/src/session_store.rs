//! A `tower-sessions` store over [`Ephemeral`]: server-side sessions in memory or in Redis.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};

use crate::ephemeral::Ephemeral;

#[derive(Clone, Debug)]
pub struct EphemeralSessionStore {
    store: Ephemeral,
}

impl EphemeralSessionStore {
    pub fn new(store: Ephemeral) -> Self {
        Self { store }
    }

    fn key(id: &Id) -> String {
        format!("session:{id}")
    }
}

fn ttl_until(expiry: OffsetDateTime) -> Option<Duration> {
    let left = expiry - OffsetDateTime::now_utc();
    left.is_positive().then(|| left.unsigned_abs())
}

fn backend(e: anyhow::Error) -> Error {
    Error::Backend(format!("{e:#}"))
}

/// Ends a session by its id, wherever it is served from (the store is shared by every instance).
pub async fn end_session(store: &Ephemeral, id: &str) -> anyhow::Result<()> {
    store.delete(&format!("session:{id}")).await
}

#[async_trait]
impl SessionStore for EphemeralSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        let Some(ttl) = ttl_until(record.expiry_date) else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&*record).map_err(|e| Error::Encode(e.to_string()))?;
        // A fresh random id colliding is unlikely, but a collision must never join two sessions.
        while !self
            .store
            .set_new(&Self::key(&record.id), &bytes, ttl)
            .await
            .map_err(backend)?
        {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let Some(ttl) = ttl_until(record.expiry_date) else {
            return self.delete(&record.id).await;
        };
        let bytes = serde_json::to_vec(record).map_err(|e| Error::Encode(e.to_string()))?;
        self.store
            .set(&Self::key(&record.id), &bytes, ttl)
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let Some(bytes) = self.store.get(&Self::key(id)).await.map_err(backend)? else {
            return Ok(None);
        };
        let record: Record =
            serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()))?;
        Ok((record.expiry_date > OffsetDateTime::now_utc()).then_some(record))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.store.delete(&Self::key(id)).await.map_err(backend)
    }
}
