//! The `outbox` table: deliveries to the nodes (back-channel logouts and profile updates)
//! waiting, done or given up.

use shared::db::{Bind, Statement};

use super::{Database, Result, with_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: String,
    pub client_id: String,
    pub sid: String,
    pub sub: String,
    pub attempts: i32,
    pub deadline: i64,
    pub kind: String,
    pub payload: Option<String>,
}

/// What a delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// A back-channel logout token, minted afresh for each attempt.
    Logout,
    /// A linked person's profile (`ProfileUpdate`), stored as the payload.
    Profile,
    /// A link of the account was made or removed: its nav bar's institutions, read when sent
    /// (so the newest list goes out, whatever changed meanwhile).
    Institutions,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Logout => "logout",
            OutboxKind::Profile => "profile",
            OutboxKind::Institutions => "institutions",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxKind> {
        match s {
            "logout" => Some(OutboxKind::Logout),
            "profile" => Some(OutboxKind::Profile),
            "institutions" => Some(OutboxKind::Institutions),
            _ => None,
        }
    }
}

impl Delivery {
    pub fn kind(&self) -> Option<OutboxKind> {
        OutboxKind::parse(&self.kind)
    }
}

/// One message for one client. `sid` is empty for profile updates.
pub struct NewDelivery<'a> {
    pub kind: OutboxKind,
    pub client_id: &'a str,
    pub sid: &'a str,
    pub sub: &'a str,
    pub payload: Option<String>,
}

/// The statement that queues one delivery, to run alone or inside a caller's transaction.
pub fn enqueue_statement<DB: sqlx::Database>(
    new: &NewDelivery<'_>,
    at: i64,
    deadline: i64,
) -> Statement<DB>
where
    String: Bind<DB>,
    Option<String>: Bind<DB>,
    i64: Bind<DB>,
{
    sqlx::query(
        "INSERT INTO outbox (id, kind, client_id, sid, sub, payload, created_at, deadline, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(new.kind.as_str().to_owned())
    .bind(new.client_id.to_owned())
    .bind(new.sid.to_owned())
    .bind(new.sub.to_owned())
    .bind(new.payload.clone())
    .bind(at)
    .bind(deadline)
}

pub async fn enqueue(db: &Database, new: &NewDelivery<'_>, at: i64, deadline: i64) -> Result<()> {
    with_db!(db, pool => enqueue_statement(new, at, deadline).execute(pool).await.map(|_| ())?);
    Ok(())
}

/// Takes up to `limit` due deliveries for this worker until `until`, in one statement, oldest
/// first. A row another worker claimed meanwhile fails the outer conditions when PostgreSQL
/// checks them again on the row as that worker left it, so no delivery is taken twice.
pub async fn claim_due(db: &Database, at: i64, until: i64, limit: i64) -> Result<Vec<Delivery>> {
    with_db!(db, pool => sqlx::query_as(
        "UPDATE outbox SET claimed_until = $2 WHERE id IN (SELECT id FROM outbox \
         WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= $1 AND claimed_until < $1 \
         ORDER BY next_attempt_at LIMIT $3) \
         AND delivered_at IS NULL AND gave_up_at IS NULL AND claimed_until < $1 \
         RETURNING id, client_id, sid, sub, attempts, deadline, kind, payload",
    )
    .bind(at)
    .bind(until)
    .bind(limit)
    .fetch_all(pool)
    .await)
}

pub async fn delivered(db: &Database, id: &str, at: i64) -> Result<()> {
    with_db!(db, pool => sqlx::query(
        "UPDATE outbox SET delivered_at = $2, attempts = attempts + 1, claimed_until = 0, last_error = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Records a failed attempt: retried at `next`, or given up when that is past the deadline.
pub async fn failed(
    db: &Database,
    id: &str,
    at: i64,
    next: Option<i64>,
    error: &str,
) -> Result<()> {
    with_db!(db, pool => sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, claimed_until = 0, last_error = $4, \
         next_attempt_at = COALESCE($3, next_attempt_at), gave_up_at = CASE WHEN $3 IS NULL THEN $2 ELSE NULL END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .bind(next)
    .bind(error)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Deliveries not yet done, by client (for tests and the admin).
pub async fn pending_for(db: &Database, client_id: &str) -> Result<i64> {
    with_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE client_id = $1 AND delivered_at IS NULL AND gave_up_at IS NULL",
    )
    .bind(client_id)
    .fetch_one(pool)
    .await)
}

/// A delivery given up: past its deadline, refused by the node, or to a client gone.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: String,
    pub kind: String,
    pub client_id: String,
    pub sub: String,
    pub attempts: i32,
    pub gave_up_at: i64,
    pub last_error: Option<String>,
}

/// The deliveries given up, newest first.
pub async fn dead_letters(db: &Database) -> Result<Vec<DeadLetter>> {
    with_db!(db, pool => sqlx::query_as(
        "SELECT id, kind, client_id, sub, attempts, gave_up_at, last_error FROM outbox \
         WHERE gave_up_at IS NOT NULL AND delivered_at IS NULL ORDER BY gave_up_at DESC LIMIT 1000",
    )
    .fetch_all(pool)
    .await)
}

/// Tries a given-up delivery again until `deadline`; false when there is no such one.
pub async fn retry(db: &Database, id: &str, at: i64, deadline: i64) -> Result<bool> {
    let n = with_db!(db, pool => sqlx::query(
        "UPDATE outbox SET gave_up_at = NULL, next_attempt_at = $2, deadline = $3, attempts = 0, claimed_until = 0 \
         WHERE id = $1 AND gave_up_at IS NOT NULL AND delivered_at IS NULL",
    )
    .bind(id)
    .bind(at)
    .bind(deadline)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Deletes a given-up delivery; false when there is no such one.
pub async fn discard(db: &Database, id: &str) -> Result<bool> {
    let n = with_db!(db, pool => sqlx::query(
        "DELETE FROM outbox WHERE id = $1 AND gave_up_at IS NOT NULL AND delivered_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// How many deliveries wait, and when the oldest of them was queued (ms).
pub async fn depth(db: &Database) -> Result<(i64, Option<i64>)> {
    with_db!(db, pool => sqlx::query_as(
        "SELECT CAST(COUNT(*) AS BIGINT), MIN(created_at) FROM outbox WHERE delivered_at IS NULL AND gave_up_at IS NULL",
    )
    .fetch_one(pool)
    .await)
}
