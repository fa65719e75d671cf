//! Whether the IdP can serve: its database (with every migration applied) and its ephemeral
//! store answer.

use shared::ephemeral::Ephemeral;
use shared::health::Readiness;

use crate::store::{self, Database};

#[derive(Clone)]
pub struct Health {
    pub db: Database,
    pub ephemeral: Ephemeral,
    pub clock: shared::Clock,
    /// How long ended rows are kept before the retention sweep deletes them (seconds).
    pub retention_seconds: i64,
}

impl Health {
    pub async fn check(&self) -> Readiness {
        shared::health::readiness(&self.db, &store::MIGRATIONS, &self.ephemeral).await
    }

    /// Deletes what the IdP no longer needs (see `store::retention`).
    pub async fn sweep_retention(&self) -> anyhow::Result<store::retention::Swept> {
        let swept =
            store::retention::sweep(&self.db, self.clock.now(), self.retention_seconds).await?;
        tracing::info!(?swept, "retention sweep");
        Ok(swept)
    }
}
