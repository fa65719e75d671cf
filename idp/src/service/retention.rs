//! Nothing grows forever: the IdP's sweep of what it no longer needs (see `store::retention`).

use shared::Clock;

use crate::store::{self, Database};

#[derive(Clone)]
pub struct Retention {
    pub db: Database,
    pub clock: Clock,
    /// How long ended rows are kept before they are deleted (seconds).
    pub keep_seconds: i64,
    /// How long audit events are kept (days).
    pub audit_days: i64,
}

impl Retention {
    pub async fn sweep(&self) -> anyhow::Result<store::retention::Swept> {
        let swept = store::retention::sweep(&self.db, self.clock.now(), self.keep_seconds).await?;
        let before = self
            .clock
            .now()
            .saturating_sub(self.audit_days.max(1) * 86_400);
        let events = shared::audit::sweep(&self.db, before.saturating_mul(1_000)).await?;
        tracing::info!(?swept, events, "retention sweep");
        Ok(swept)
    }
}
