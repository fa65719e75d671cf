//! Storage of the school node: SQL over SQLite or PostgreSQL, one module per table group.

pub mod accounts;
pub mod applications;
pub mod idp_outbox;
pub mod keys;
pub mod outbox;
pub mod retention;
pub mod tokens;

use shared::db::{Db, Migrations};
use sqlx::migrate::Migrator;

static SQLITE: Migrator = sqlx::migrate!("../migrations/school_node/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("../migrations/school_node/postgres");

pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

/// Failures of the storage layer that the domain reacts to.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a unique value is already taken")]
    Conflict,
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if shared::db::is_unique_violation(&e) {
            StoreError::Conflict
        } else {
            StoreError::Database(e)
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub use shared::with_db;
pub type Database = Db;
