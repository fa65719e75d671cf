//! The relational database of a service: SQLite by default, PostgreSQL by configuration.
//!
//! `sqlx::Any` cannot carry this project's types, so the pool is an enum and [`with_db!`] expands
//! one query body for each back end: the SQL text is written once, in the dialect both accept.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// A service's database: the pool, and the gate that answers at once while it is unreachable.
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    gate: Arc<Gate>,
}

#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Whether the database was reachable at the probe's last look. While it is not, every query
/// fails at once (a 503 with `Retry-After` to the caller) instead of each request waiting out
/// the pool's acquire timeout; the probe finds it back by itself.
#[derive(Debug, Default)]
pub struct Gate {
    unreachable: AtomicBool,
}

/// How a service's pool is sized and how long it waits (settings `database_pool.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSettings {
    /// PostgreSQL connections at most (SQLite always uses one).
    pub max_connections: u32,
    /// How long opening one connection may take.
    pub connect_timeout_millis: u64,
    /// How long a query waits for a free connection.
    pub acquire_timeout_millis: u64,
    /// How often the database is probed (and found gone, or back).
    pub probe_millis: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            connect_timeout_millis: 2_000,
            acquire_timeout_millis: 2_000,
            probe_millis: 250,
        }
    }
}

/// The error every query answers with while the database is unreachable; it reads as
/// "unavailable" (`health::is_unavailable`), so callers answer 503.
pub fn unreachable_error() -> sqlx::Error {
    sqlx::Error::PoolTimedOut
}

/// One service's migrations, one folder per database kind.
pub struct Migrations {
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
}

/// Runs the same body with `$pool` bound to whichever pool `$db` holds. While the probe finds
/// the database unreachable, the enclosing function returns `unreachable_error()` at once.
#[macro_export]
macro_rules! with_db {
    ($db:expr, $pool:ident => $body:expr) => {{
        let db: &$crate::db::Db = &$db;
        if db.unreachable() {
            return Err($crate::db::unreachable_error().into());
        }
        match db.pool() {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    }};
}

/// As [`with_db!`] without the gate, for tests and tools that look into a database directly
/// (and are not in a function that returns a `Result`).
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match ($db).pool() {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}

/// A value that binds to a query on back end `DB`, for statement builders generic over the back
/// end, which let one transaction span several tables inside [`with_db!`].
pub trait Bind<DB: sqlx::Database>: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB> + Send {}
impl<DB: sqlx::Database, T> Bind<DB> for T where
    T: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB> + Send
{
}

/// A statement built for back end `DB`, ready to execute on a pool or in a transaction.
pub type Statement<DB> = sqlx::query::Query<'static, DB, <DB as sqlx::Database>::Arguments>;

impl Db {
    fn new(pool: Pool) -> Self {
        Db {
            pool,
            gate: Arc::default(),
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether the probe last found the database unreachable.
    pub fn unreachable(&self) -> bool {
        self.gate.unreachable.load(Ordering::Relaxed)
    }

    /// Whether the database answers (past the gate: this is how the probe looks).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
            Pool::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
        }
    }

    /// Probes a PostgreSQL database every `every` until the last clone of this `Db` is dropped,
    /// on a connection of its own (never waiting behind a busy pool, so load alone never looks
    /// like an outage): an answer within `patience` opens the gate, a failure or none closes
    /// it. A SQLite file is never unreachable, and is not probed.
    pub fn spawn_probe(
        &self,
        every: Duration,
        patience: Duration,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let Pool::Postgres(pool) = &self.pool else {
            return None;
        };
        let options = pool.connect_options();
        let gate = Arc::downgrade(&self.gate);
        Some(tokio::spawn(async move {
            use sqlx::Connection;
            let every = every.max(Duration::from_millis(50));
            let mut conn: Option<sqlx::PgConnection> = None;
            loop {
                tokio::time::sleep(every).await;
                let Some(gate) = gate.upgrade() else {
                    return;
                };
                let answered = match conn.as_mut() {
                    Some(c) => matches!(tokio::time::timeout(patience, c.ping()).await, Ok(Ok(()))),
                    None => false,
                };
                let reachable = answered || {
                    conn =
                        tokio::time::timeout(patience, sqlx::PgConnection::connect_with(&options))
                            .await
                            .ok()
                            .and_then(Result::ok);
                    conn.is_some()
                };
                let was = gate.unreachable.swap(!reachable, Ordering::Relaxed);
                if was == reachable {
                    if reachable {
                        tracing::info!("the database answers again");
                    } else {
                        tracing::warn!(
                            "the database does not answer: requests that need it get 503 at once"
                        );
                    }
                }
            }
        }))
    }

    /// Opens the database named by `url` (`postgres://…`, `sqlite://…`) and migrates it. A
    /// SQLite file that another process is creating or migrating at the same moment is locked
    /// for a while: that is waited out. (PostgreSQL migrations take a lock of their own.)
    pub async fn connect(url: &str, migrations: &Migrations) -> anyhow::Result<Self> {
        Self::connect_with(url, migrations, &PoolSettings::default()).await
    }

    /// As [`Db::connect`], with the pool's size and timeouts as configured.
    pub async fn connect_with(
        url: &str,
        migrations: &Migrations,
        settings: &PoolSettings,
    ) -> anyhow::Result<Self> {
        let mut attempt = 0;
        loop {
            match Self::connect_once(url, migrations, settings).await {
                Err(e) if url.starts_with("sqlite:") && attempt < 10 => {
                    attempt += 1;
                    tracing::info!(error = %format!("{e:#}"), attempt, "the SQLite file is busy; trying again");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                outcome => return outcome,
            }
        }
    }

    async fn connect_once(
        url: &str,
        migrations: &Migrations,
        settings: &PoolSettings,
    ) -> anyhow::Result<Self> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = sqlx::postgres::PgConnectOptions::from_str(url)
                .with_context(|| format!("not a PostgreSQL URL: {}", redact(url)))?;
            let connect = Duration::from_millis(settings.connect_timeout_millis.max(1));
            let pool = tokio::time::timeout(
                connect,
                PgPoolOptions::new()
                    .max_connections(settings.max_connections.max(1))
                    .acquire_timeout(Duration::from_millis(
                        settings.acquire_timeout_millis.max(1),
                    ))
                    .connect_with(options),
            )
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {connect:?}"))
            .and_then(|r| r.map_err(anyhow::Error::from))
            .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(url)))?;
            Db::new(Pool::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("not a SQLite URL: {url}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            // One connection: SQLite takes one writer at a time, and a writer that finds the
            // lock taken sleeps in its busy handler (1, 2, 5, 10 … ms) rather than waiting its
            // turn. With eight, a logout fan-out to ten nodes had a p99 of 35 ms (the sleeps
            // adding up); queued on one connection, 6 ms (docs/PERFORMANCE.md).
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .with_context(|| format!("cannot open SQLite database {url}"))?;
            Db::new(Pool::Sqlite(pool))
        } else {
            anyhow::bail!(
                "the database URL must start with sqlite: or postgres://, not {}",
                redact(url)
            );
        };
        db.migrate(migrations).await?;
        db.spawn_probe(
            Duration::from_millis(settings.probe_millis),
            Duration::from_millis(settings.connect_timeout_millis.max(1)),
        );
        Ok(db)
    }

    /// The SQLite file `name` inside `dir`, creating the folder on first start.
    pub async fn open_file(
        dir: &Path,
        name: &str,
        migrations: &Migrations,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data folder {}", dir.display()))?;
        let url = format!("sqlite://{}?mode=rwc", dir.join(name).display());
        Self::connect(&url, migrations).await
    }

    async fn migrate(&self, migrations: &Migrations) -> anyhow::Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => migrations.sqlite.run(pool).await,
            Pool::Postgres(pool) => migrations.postgres.run(pool).await,
        }
        .context("database migration failed")
    }

    /// Copies a SQLite database, while it is in use, into a new file `to` (an online backup:
    /// `VACUUM INTO`). PostgreSQL is backed up with `pg_dump`.
    pub async fn backup_to(&self, to: &Path) -> anyhow::Result<()> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                anyhow::ensure!(!to.exists(), "{} exists already", to.display());
                sqlx::query("VACUUM INTO $1")
                    .bind(to.display().to_string())
                    .execute(pool)
                    .await
                    .with_context(|| format!("cannot back up into {}", to.display()))?;
                Ok(())
            }
            Pool::Postgres(_) => anyhow::bail!(
                "the database is PostgreSQL: back it up with pg_dump (docs/OPERATIONS.md)"
            ),
        }
    }

    pub fn kind(&self) -> &'static str {
        match &self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }
}

/// The URL without its password, for messages.
/// `%<text>%` for a case-blind `LIKE … ESCAPE '\\'` search: `text` lower-cased, with `%`, `_`
/// and `\\` matched as themselves.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Whether an error is a unique-constraint violation (both back ends).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Whether a transaction failed only because a concurrent one got in its way, so that running it
/// again is safe: SQLite busy or locked (a read transaction cannot become a writer after another
/// wrote), PostgreSQL serialization failure or deadlock.
pub fn is_transient(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(e) = err else {
        return false;
    };
    matches!(
        e.code().as_deref(),
        Some("5" | "6" | "261" | "517" | "40001" | "40P01")
    )
}

/// Runs a transaction again (up to `attempts` times, with a short growing pause) while it fails
/// for a transient reason ([`is_transient`]).
pub async fn retrying<T, F, Fut>(attempts: u32, mut run: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 0;
    loop {
        match run().await {
            Err(e) if is_transient(&e) && attempt + 1 < attempts => {
                attempt += 1;
                let jitter = u64::from(rand_jitter()) % 10;
                tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 5 + jitter)).await;
            }
            other => return other,
        }
    }
}

/// A few bits of noise, so that two retrying transactions do not meet again in step.
fn rand_jitter() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_search_pattern_matches_its_wildcards_as_themselves() {
        assert_eq!(super::contains_pattern("Kool"), "%kool%");
        assert_eq!(super::contains_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }
}
