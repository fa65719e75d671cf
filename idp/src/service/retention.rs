//! Nothing grows forever: the IdP's sweep of what it no longer needs (see `store::retention`).

use shared::Clock;

use crate::store::{self, Database};

#[derive(Clone)]
pub struct Retention {
    pub db: Database,
    pub clock: Clock,
    /// How long ended rows are kept before they are deleted (seconds).
    pub keep_seconds: i64,
}

impl Retention {
    pub async fn sweep(&self) -> anyhow::Result<store::retention::Swept> {
        let swept = store::retention::sweep(&self.db, self.clock.now(), self.keep_seconds).await?;
        tracing::info!(?swept, "retention sweep");
        Ok(swept)
    }
}
