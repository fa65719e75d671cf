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

fn ended_key(id: &str) -> String {
    format!("session-ended:{id}")
}

/// How long an ended session's id is remembered, so that no request still under way for it
/// writes it back; longer than any request takes.
const ENDED_MEMORY: Duration = Duration::from_secs(3600);

/// Ends a session by its id, wherever it is served from (the store is shared by every instance).
/// A request that loaded the session before it ended cannot save it back afterwards.
pub async fn end_session(store: &Ephemeral, id: &str) -> anyhow::Result<()> {
    store.set(&ended_key(id), b"1", ENDED_MEMORY).await?;
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
        // Ended by a logout while this request was under way: it stays ended.
        if self
            .store
            .get(&ended_key(&record.id.to_string()))
            .await
            .map_err(backend)?
            .is_some()
        {
            return Ok(());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_ended_during_a_request_is_not_written_back() {
        let store = EphemeralSessionStore::new(Ephemeral::memory());
        let mut record = Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        store.create(&mut record).await.unwrap();
        let loaded = store.load(&record.id).await.unwrap().expect("stored");
        // A logout ends it while a request that loaded it is still running...
        end_session(&store.store, &record.id.to_string())
            .await
            .unwrap();
        // ...and that request's save at its end does not bring it back.
        store.save(&loaded).await.unwrap();
        assert!(store.load(&record.id).await.unwrap().is_none());
    }
}
