//! The `mail_outbox` table: messages wait here until the delivery worker has sent them.

use shared::db::{Bind, Statement};

use super::{Database, Result, with_db};

/// What a letter belonged to, for the admin's list of letters that could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    SignInLink,
    ApplicationReceived,
    AccountCreated,
    ChildrenAdded,
    ApplicationRejected,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::SignInLink => "sign_in_link",
            Purpose::ApplicationReceived => "application_received",
            Purpose::AccountCreated => "account_created",
            Purpose::ChildrenAdded => "children_added",
            Purpose::ApplicationRejected => "application_rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Purpose> {
        [
            Purpose::SignInLink,
            Purpose::ApplicationReceived,
            Purpose::AccountCreated,
            Purpose::ChildrenAdded,
            Purpose::ApplicationRejected,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct NewMail {
    pub purpose: Purpose,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailRow {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub attempts: i32,
    pub created_at: i64,
}

/// A letter given up: past its deadline, or to an address that cannot receive mail.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeadLetter {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub purpose: String,
    pub created_at: i64,
    pub given_up_at: i64,
    pub last_error: Option<String>,
}

/// The statement that queues a message, so it commits together with what caused it.
pub fn insert_statement<DB: sqlx::Database>(mail: &NewMail, at: i64) -> Statement<DB>
where
    String: Bind<DB>,
    i64: Bind<DB>,
{
    sqlx::query(
        "INSERT INTO mail_outbox (id, recipient, subject, body_text, body_html, created_at, next_attempt_at, purpose) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(mail.recipient.clone())
    .bind(mail.subject.clone())
    .bind(mail.text.clone())
    .bind(mail.html.clone())
    .bind(at)
    .bind(mail.purpose.as_str().to_owned())
}

pub async fn enqueue(db: &Database, mail: &NewMail, at: i64) -> Result<()> {
    with_db!(db, pool => insert_statement(mail, at).execute(pool).await.map(|_| ())?);
    Ok(())
}

/// Unsent messages whose next attempt is due and that no worker holds.
pub async fn due(db: &Database, at: i64, limit: i64) -> Result<Vec<MailRow>> {
    Ok(with_db!(db, pool => sqlx::query_as(
        "SELECT id, recipient, subject, body_text, body_html, attempts, created_at FROM mail_outbox \
         WHERE sent_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= $1 AND claimed_until < $1 \
         ORDER BY next_attempt_at, created_at LIMIT $2",
    )
    .bind(at)
    .bind(limit)
    .fetch_all(pool)
    .await?))
}

/// Takes a message for one worker until `until`; false when another worker has it.
pub async fn claim(db: &Database, id: &str, at: i64, until: i64) -> Result<bool> {
    let n = with_db!(db, pool => sqlx::query(
        "UPDATE mail_outbox SET claimed_until = $3 WHERE id = $1 AND sent_at IS NULL AND claimed_until < $2",
    )
    .bind(id)
    .bind(at)
    .bind(until)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Marks a message sent and forgets its body: a temporary password lives only in the mailbox.
pub async fn mark_sent(db: &Database, id: &str, at: i64) -> Result<()> {
    with_db!(db, pool => sqlx::query(
        "UPDATE mail_outbox SET sent_at = $2, body_text = '', body_html = '', claimed_until = 0, last_error = NULL, \
         attempts = attempts + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

pub async fn mark_failed(db: &Database, id: &str, next_attempt_at: i64, error: &str) -> Result<()> {
    with_db!(db, pool => sqlx::query(
        "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = $2, claimed_until = 0, last_error = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(next_attempt_at)
    .bind(error)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Gives a letter up: it is not tried again unless an admin asks.
pub async fn give_up(db: &Database, id: &str, at: i64, why: &str) -> Result<()> {
    with_db!(db, pool => sqlx::query(
        "UPDATE mail_outbox SET given_up_at = $2, last_error = $3, claimed_until = 0, attempts = attempts + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .bind(why)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

/// The letters given up, newest first.
pub async fn dead_letters(db: &Database) -> Result<Vec<DeadLetter>> {
    Ok(with_db!(db, pool => sqlx::query_as(
        "SELECT id, recipient, subject, purpose, created_at, given_up_at, last_error FROM mail_outbox \
         WHERE given_up_at IS NOT NULL AND sent_at IS NULL ORDER BY given_up_at DESC LIMIT 500",
    )
    .fetch_all(pool)
    .await?))
}

/// Tries a given-up letter again, with a new deadline from now; false when there is none.
pub async fn retry(db: &Database, id: &str, at: i64) -> Result<bool> {
    let n = with_db!(db, pool => sqlx::query(
        "UPDATE mail_outbox SET given_up_at = NULL, created_at = $2, next_attempt_at = $2, attempts = 0 \
         WHERE id = $1 AND given_up_at IS NOT NULL AND sent_at IS NULL",
    )
    .bind(id)
    .bind(at)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Deletes a given-up letter (and the temporary password it may hold); false when none.
pub async fn discard(db: &Database, id: &str) -> Result<bool> {
    let n = with_db!(db, pool => sqlx::query(
        "DELETE FROM mail_outbox WHERE id = $1 AND given_up_at IS NOT NULL AND sent_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Letters still to be sent (not those given up).
pub async fn unsent_count(db: &Database) -> Result<i64> {
    Ok(
        with_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL AND given_up_at IS NULL")
        .fetch_one(pool)
        .await?),
    )
}
