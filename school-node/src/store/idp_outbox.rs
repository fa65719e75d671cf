//! The `idp_outbox` table: what the node tells the IdP — profile changes, "sign out
//! everywhere", new passwords — waiting, delivered or given up. One account's messages go in the
//! order they were made; accounts do not wait for each other.

use shared::db::{Bind, Statement};

use super::{Database, Result, with_db};

/// What a message asks of the IdP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Personal data changed here (`ProfileChanges` as the payload).
    Profile,
    /// End the person's sessions everywhere (an admin's "Logi välja kõikjalt", a closed account).
    SignOut,
    /// A new password was set; the payload may name the IdP session to keep.
    PasswordChanged,
    /// The person chose a language here (its code as the payload), for their linked schools.
    Language,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Profile => "profile",
            MessageKind::SignOut => "sign_out",
            MessageKind::PasswordChanged => "password_changed",
            MessageKind::Language => "language",
        }
    }

    pub fn parse(s: &str) -> Option<MessageKind> {
        [
            MessageKind::Profile,
            MessageKind::SignOut,
            MessageKind::PasswordChanged,
            MessageKind::Language,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Message {
    pub seq: i64,
    pub kind: String,
    pub account_id: String,
    pub payload: String,
    pub attempts: i32,
    pub created_at: i64,
    /// When the event happened (milliseconds); a retry does not change it.
    pub made_at: i64,
}

/// A message given up: refused by the IdP, or past its deadline.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadMessage {
    pub seq: i64,
    pub kind: String,
    pub account_id: String,
    pub created_at: i64,
    pub given_up_at: i64,
    pub last_error: Option<String>,
}

/// Where a message is, for the admin.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageState {
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub given_up_at: Option<i64>,
    pub last_error: Option<String>,
    pub result: Option<String>,
}

pub fn enqueue_statement<DB: sqlx::Database>(
    kind: MessageKind,
    account_id: &str,
    payload: String,
    at: i64,
) -> Statement<DB>
where
    String: Bind<DB>,
    i64: Bind<DB>,
{
    sqlx::query(
        "INSERT INTO idp_outbox (kind, account_id, payload, created_at, made_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $4, 0)",
    )
    .bind(kind.as_str().to_owned())
    .bind(account_id.to_owned())
    .bind(payload)
    .bind(at)
}

pub async fn enqueue(
    db: &Database,
    kind: MessageKind,
    account_id: &str,
    payload: String,
    at: i64,
) -> Result<()> {
    with_db!(db, pool => enqueue_statement(kind, account_id, payload, at).execute(pool).await.map(|_| ())?);
    Ok(())
}

/// Messages due and free to take: each the oldest waiting one of its account.
pub async fn due(db: &Database, now: i64, limit: i64) -> Result<Vec<Message>> {
    Ok(with_db!(db, pool => sqlx::query_as(
        "SELECT CAST(seq AS BIGINT) AS seq, kind, account_id, payload, attempts, created_at, \
         COALESCE(made_at, created_at) AS made_at FROM idp_outbox o \
         WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= $1 AND claimed_until < $1 \
         AND NOT EXISTS (SELECT 1 FROM idp_outbox e WHERE e.account_id = o.account_id AND e.seq < o.seq \
                         AND e.delivered_at IS NULL AND e.given_up_at IS NULL) \
         ORDER BY seq LIMIT $2",
    )
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await?))
}

/// Takes a message for one instance until `until`; false when another has it.
pub async fn claim(db: &Database, seq: i64, now: i64, until: i64) -> Result<bool> {
    let n = with_db!(db, pool => sqlx::query(
        "UPDATE idp_outbox SET claimed_until = $3 \
         WHERE seq = $1 AND delivered_at IS NULL AND given_up_at IS NULL AND claimed_until < $2",
    )
        .bind(seq)
        .bind(now)
        .bind(until)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(n == 1)
}

pub async fn delivered(db: &Database, seq: i64, at: i64, result: &str) -> Result<()> {
    with_db!(db, pool => sqlx::query(
        "UPDATE idp_outbox SET delivered_at = $2, attempts = attempts + 1, last_error = NULL, \
         claimed_until = 0, result = $3 WHERE seq = $1",
    )
    .bind(seq)
    .bind(at)
    .bind(result)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

pub async fn failed(db: &Database, seq: i64, next_at: i64, error: &str) -> Result<()> {
    with_db!(db, pool => sqlx::query(
        "UPDATE idp_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3, \
         claimed_until = 0 WHERE seq = $1",
    )
    .bind(seq)
    .bind(next_at)
    .bind(error)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Sets a message aside: it is not tried again unless an admin asks.
pub async fn give_up(db: &Database, seq: i64, at: i64, why: &str) -> Result<()> {
    with_db!(db, pool => sqlx::query(
        "UPDATE idp_outbox SET given_up_at = $2, last_error = $3, claimed_until = 0, attempts = attempts + 1 \
         WHERE seq = $1",
    )
    .bind(seq)
    .bind(at)
    .bind(why)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// The messages given up, newest first.
pub async fn dead_letters(db: &Database) -> Result<Vec<DeadMessage>> {
    Ok(with_db!(db, pool => sqlx::query_as(
        "SELECT CAST(seq AS BIGINT) AS seq, kind, account_id, created_at, given_up_at, last_error FROM idp_outbox \
         WHERE given_up_at IS NOT NULL AND delivered_at IS NULL ORDER BY given_up_at DESC LIMIT 500",
    )
    .fetch_all(pool)
    .await?))
}

/// One given-up message, to be tried again.
pub async fn dead_letter(db: &Database, seq: i64) -> Result<Option<Message>> {
    Ok(with_db!(db, pool => sqlx::query_as(
        "SELECT CAST(seq AS BIGINT) AS seq, kind, account_id, payload, attempts, created_at, \
         COALESCE(made_at, created_at) AS made_at FROM idp_outbox \
         WHERE seq = $1 AND given_up_at IS NOT NULL AND delivered_at IS NULL",
    )
    .bind(seq)
    .fetch_optional(pool)
    .await?))
}

/// Tries a given-up message again with `payload`, its deadline counted from now; false when
/// there is none.
pub async fn retry(db: &Database, seq: i64, payload: &str, at: i64) -> Result<bool> {
    let n = with_db!(db, pool => sqlx::query(
        "UPDATE idp_outbox SET given_up_at = NULL, payload = $2, created_at = $3, next_attempt_at = $3, attempts = 0 \
         WHERE seq = $1 AND given_up_at IS NOT NULL AND delivered_at IS NULL",
    )
    .bind(seq)
    .bind(payload)
    .bind(at)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

pub async fn discard(db: &Database, seq: i64) -> Result<bool> {
    let n = with_db!(db, pool => sqlx::query(
        "DELETE FROM idp_outbox WHERE seq = $1 AND given_up_at IS NOT NULL AND delivered_at IS NULL",
    )
    .bind(seq)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Messages still to be delivered (not those given up), and when the oldest was made.
pub async fn waiting(db: &Database) -> Result<(i64, Option<i64>)> {
    Ok(with_db!(db, pool => sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM idp_outbox WHERE delivered_at IS NULL AND given_up_at IS NULL",
    )
    .fetch_one(pool)
    .await?))
}

/// The newest message of this kind for the account, for the admin's account page.
pub async fn latest(
    db: &Database,
    account_id: &str,
    kind: MessageKind,
) -> Result<Option<MessageState>> {
    Ok(with_db!(db, pool => sqlx::query_as(
        "SELECT created_at, delivered_at, given_up_at, last_error, result FROM idp_outbox \
         WHERE account_id = $1 AND kind = $2 ORDER BY seq DESC LIMIT 1",
    )
    .bind(account_id)
    .bind(kind.as_str())
    .fetch_optional(pool)
    .await?))
}
