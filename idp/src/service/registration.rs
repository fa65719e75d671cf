//! The client registry follows its configuration: the inline `[[client]]` tables and the
//! clients file, reread every `reload_seconds`. A client added to the file is registered, one
//! changed is updated, one removed is unregistered (authorize and token then refuse it). A file
//! that cannot be read or holds a mistake changes nothing; the mistake is logged.

use std::path::PathBuf;

use anyhow::Context;
use shared::Clock;

use super::clients::Registry;
use crate::config::{ClientConfig, client_problems, read_clients_file};
use crate::store::{self, Database};

#[derive(Clone)]
pub struct Registration {
    pub db: Database,
    pub registry: Registry,
    pub inline: Vec<ClientConfig>,
    pub file: Option<PathBuf>,
    pub clock: Clock,
    /// What this process last wrote, so an unchanged configuration is not written again at
    /// every reload (a thousand clients would otherwise be a thousand upserts a round).
    pub last_written: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Registration {
    /// The clients the configuration registers now: inline ones, then the file's.
    pub fn effective(&self) -> anyhow::Result<Vec<ClientConfig>> {
        let mut clients = self.inline.clone();
        if let Some(path) = &self.file {
            clients.extend(read_clients_file(path)?);
        }
        let problems = client_problems(&clients);
        anyhow::ensure!(
            problems.is_empty(),
            "the clients are not valid:\n  - {}",
            problems.join("\n  - ")
        );
        Ok(clients)
    }

    /// Whether the configuration names a client with this id (the console may not take it).
    pub fn configured(&self, client_id: &str) -> anyhow::Result<bool> {
        Ok(self.effective()?.iter().any(|c| c.client_id == client_id))
    }

    /// Makes the stored registry what the configuration says, and reloads it. A client id the
    /// console registered too is a mistake named here (at start, the IdP does not start).
    pub async fn sync(&self) -> anyhow::Result<()> {
        let wanted = self.effective()?;
        let fingerprint = serde_json::to_string(&wanted)?;
        let unchanged = self
            .last_written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            == Some(&fingerprint);
        if unchanged {
            // Still follow what other instances, the console or the CLI may have changed.
            return self.registry.reload(&self.db).await;
        }
        let stored = store::clients::all(&self.db).await?;
        let taken: Vec<&str> = wanted
            .iter()
            .filter(|c| {
                stored.iter().any(|s| {
                    s.client_id == c.client_id
                        && s.source == store::clients::Source::Console.as_str()
                })
            })
            .map(|c| c.client_id.as_str())
            .collect();
        anyhow::ensure!(
            taken.is_empty(),
            "client id {} is in the configuration and was registered in the console too: remove it from one of them",
            taken.join(", ")
        );
        let now = self.clock.now();
        for client in &wanted {
            store::clients::upsert(&self.db, client, now)
                .await
                .with_context(|| format!("registering {}", client.client_id))?;
        }
        for stored in &stored {
            if stored.source == store::clients::Source::File.as_str()
                && !wanted.iter().any(|c| c.client_id == stored.client_id)
            {
                store::clients::delete_from_file(&self.db, &stored.client_id).await?;
                tracing::info!(client = %stored.client_id, "a client left the configuration: unregistered");
            }
        }
        *self.last_written.lock().unwrap_or_else(|p| p.into_inner()) = Some(fingerprint);
        self.registry.reload(&self.db).await
    }
}
