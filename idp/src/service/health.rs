//! Whether the IdP can serve: its database (with every migration applied) and its ephemeral
//! store answer.

use shared::ephemeral::Ephemeral;
use shared::health::Readiness;

use crate::store::{self, Database};

#[derive(Clone)]
pub struct Health {
    pub db: Database,
    pub ephemeral: Ephemeral,
}

impl Health {
    pub async fn check(&self) -> Readiness {
        shared::health::readiness(&self.db, &store::MIGRATIONS, &self.ephemeral).await
    }
}
