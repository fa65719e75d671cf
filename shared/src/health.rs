//! Health for operators and balancers: `/health/live` (the process answers) and
//! `/health/ready` (the database and the ephemeral store answer, and every migration this build
//! knows is applied; 503 naming what is not).

use serde::Serialize;

use crate::db::{Db, Migrations};
use crate::ephemeral::Ephemeral;

/// What readiness found; `problems` names each thing that is not ready.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub database: bool,
    pub ephemeral: bool,
    pub migrations: bool,
    pub problems: Vec<String>,
}

/// Checks the stores a service needs.
pub async fn readiness(db: &Db, migrations: &Migrations, ephemeral: &Ephemeral) -> Readiness {
    let mut problems = Vec::new();
    // The probe's view first: while it finds the database gone, so does readiness.
    let database = if db.unreachable() {
        problems.push("database: does not answer (the probe looks every moment)".to_owned());
        false
    } else {
        match db.ping().await {
            Ok(_) => true,
            Err(e) => {
                problems.push(format!("database: {e}"));
                false
            }
        }
    };
    let migrations = database
        && match applied(db, migrations).await {
            Ok(true) => true,
            Ok(false) => {
                problems.push("database: migrations are missing".to_owned());
                false
            }
            Err(e) => {
                problems.push(format!("database: migrations cannot be read: {e}"));
                false
            }
        };
    let ephemeral = match ephemeral.get("health").await {
        Ok(_) => true,
        Err(e) => {
            problems.push(format!("{}: {e:#}", ephemeral.kind()));
            false
        }
    };
    Readiness {
        ready: problems.is_empty(),
        database,
        ephemeral,
        migrations,
        problems,
    }
}

/// Whether the newest migration this build has is applied.
async fn applied(db: &Db, migrations: &Migrations) -> Result<bool, sqlx::Error> {
    let newest = match db.pool() {
        crate::db::Pool::Sqlite(_) => migrations.sqlite.iter().map(|m| m.version).max(),
        crate::db::Pool::Postgres(_) => migrations.postgres.iter().map(|m| m.version).max(),
    };
    let Some(newest) = newest else {
        return Ok(true);
    };
    let found: i64 = crate::with_db!(db, pool => sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM _sqlx_migrations WHERE version = $1 AND success",
    )
    .bind(newest)
    .fetch_one(pool)
    .await)?;
    Ok(found == 1)
}

/// Whether a failure's cause says that a store (the database, Redis) could not be reached —
/// stopped, restarting, out of connections — rather than a fault in this program: such a
/// request is answered 503 with "try again in a moment", not 500.
pub fn is_unavailable(cause: &str) -> bool {
    const MARKS: [&str; 15] = [
        "redis is unavailable",
        "pool timed out",
        "closed pool",
        "error communicating with database",
        "administrator command",
        "database system is shutting down",
        "database system is starting up",
        "database system is in recovery",
        "connection refused",
        "connection reset",
        "broken pipe",
        "connection closed",
        "timed out",
        // Closed for maintenance (ALLOW_CONNECTIONS false), or full.
        "not currently accepting connections",
        "too many connections",
    ];
    let cause = cause.to_lowercase();
    MARKS.iter().any(|mark| cause.contains(mark))
}

#[cfg(test)]
mod unavailable_tests {
    use super::is_unavailable;

    #[test]
    fn store_outages_are_told_apart_from_faults() {
        assert!(is_unavailable(
            "pool timed out while waiting for an open connection"
        ));
        assert!(is_unavailable(
            "Store(Backend(\"Connection refused (os error 111)\"))"
        ));
        assert!(is_unavailable(
            "error returned from database: terminating connection due to administrator command"
        ));
        assert!(is_unavailable("broken pipe: broken pipe"));
        assert!(!is_unavailable("a name is empty"));
        assert!(!is_unavailable("an unmarked server error"));
    }
}
