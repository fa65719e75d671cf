//! The IdP's storage: SQL over SQLite or PostgreSQL, one module per table group.

pub mod clients;
pub mod enrolment;
pub mod grants;
pub mod keys;
pub mod outbox;
pub mod persons;
pub mod retention;

use shared::db::Migrations;
use sqlx::migrate::Migrator;

pub use shared::db::Db as Database;
pub use shared::with_db;

static SQLITE: Migrator = sqlx::migrate!("../migrations/idp/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("../migrations/idp/postgres");

pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

pub type Result<T> = std::result::Result<T, sqlx::Error>;
