//! The `mail_outbox` table: messages wait here until the delivery worker has sent them.

use shared::db::{Bind, Statement};

use super::{Database, Result, with_db};

#[derive(Debug, Clone)]
pub struct NewMail {
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
}

/// The statement that queues a message, so it commits together with what caused it.
pub fn insert_statement<DB: sqlx::Database>(mail: &NewMail, at: i64) -> Statement<DB>
where
    String: Bind<DB>,
    i64: Bind<DB>,
{
    sqlx::query(
        "INSERT INTO mail_outbox (id, recipient, subject, body_text, body_html, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(mail.recipient.clone())
    .bind(mail.subject.clone())
    .bind(mail.text.clone())
    .bind(mail.html.clone())
    .bind(at)
}

pub async fn enqueue(db: &Database, mail: &NewMail, at: i64) -> Result<()> {
    with_db!(db, pool => insert_statement(mail, at).execute(pool).await.map(|_| ())?);
    Ok(())
}

/// Unsent messages whose next attempt is due and that no worker holds.
pub async fn due(db: &Database, at: i64, limit: i64) -> Result<Vec<MailRow>> {
    Ok(with_db!(db, pool => sqlx::query_as(
        "SELECT id, recipient, subject, body_text, body_html, attempts FROM mail_outbox \
         WHERE sent_at IS NULL AND next_attempt_at <= $1 AND claimed_until < $1 \
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

pub async fn unsent_count(db: &Database) -> Result<i64> {
    Ok(
        with_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE sent_at IS NULL")
        .fetch_one(pool)
        .await?),
    )
}
