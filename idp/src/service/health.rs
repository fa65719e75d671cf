//! Whether the IdP can serve: its database and its ephemeral store answer.

use serde::Serialize;
use shared::ephemeral::Ephemeral;

use crate::store::{self, Database};

#[derive(Clone)]
pub struct Health {
    pub db: Database,
    pub ephemeral: Ephemeral,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub database: bool,
    pub ephemeral: bool,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.database && self.ephemeral
    }
}

impl Health {
    pub async fn check(&self) -> Report {
        Report {
            database: store::ping(&self.db).await.is_ok(),
            ephemeral: self.ephemeral.get("health").await.is_ok(),
        }
    }
}
