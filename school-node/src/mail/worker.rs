//! The delivery worker: sends due messages from the outbox and retries failures with
//! exponential backoff, so an SMTP server that is down gets every message when it is back.

use std::sync::Arc;

use shared::retry::{Backoff, spawn_rounds};
use tokio::task::JoinHandle;

use super::{MailConfig, Mailer, Outbox, now_millis};
use crate::store::Database;
use crate::store::outbox;

/// How long a worker holds a message it is sending before another may take it.
const CLAIM_MILLIS: i64 = 120_000;
const BATCH: i64 = 50;

pub fn spawn(
    db: Database,
    mailer: Arc<Mailer>,
    outbox: &Outbox,
    config: MailConfig,
    shutdown: shared::retry::Shutdown,
) -> JoinHandle<()> {
    let (poll, wake) = (config.poll_millis, outbox.notified());
    spawn_rounds("mail delivery", poll, wake, shutdown, move || {
        let (db, mailer, config) = (db.clone(), mailer.clone(), config.clone());
        async move { deliver_due(&db, &mailer, &config).await }
    })
}

fn backoff(config: &MailConfig, attempts: i32) -> i64 {
    Backoff {
        base_millis: config.retry_base_millis,
        max_millis: config.retry_max_millis,
    }
    .after(attempts)
}

/// Sends every due message once; returns how many went out.
pub async fn deliver_due(
    db: &Database,
    mailer: &Mailer,
    config: &MailConfig,
) -> anyhow::Result<usize> {
    let mut sent = 0;
    let at = now_millis();
    metrics::gauge!("node_mail_outbox_depth").set(outbox::unsent_count(db).await? as f64);
    for mail in outbox::due(db, at, BATCH).await? {
        if !outbox::claim(db, &mail.id, at, at + CLAIM_MILLIS).await? {
            continue;
        }
        // The rule every form checks: an address stored before it was strict may fail it.
        if shared::Email::parse(&mail.recipient).is_err() {
            tracing::warn!(id = %mail.id, "a letter to an address that cannot receive mail was given up");
            outbox::give_up(
                db,
                &mail.id,
                now_millis(),
                "the address cannot receive mail",
            )
            .await?;
            continue;
        }
        match mailer.send(&mail).await {
            Ok(()) => {
                outbox::mark_sent(db, &mail.id, now_millis()).await?;
                metrics::counter!("node_letters_total", "outcome" => "sent").increment(1);
                tracing::info!(id = %mail.id, attempts = mail.attempts + 1, "mail sent");
                sent += 1;
            }
            Err(e) => {
                let error = format!("{e:#}");
                let next = now_millis() + backoff(config, mail.attempts);
                let deadline = mail.created_at
                    + i64::try_from(config.deadline_seconds.saturating_mul(1_000))
                        .unwrap_or(i64::MAX);
                if next > deadline {
                    tracing::error!(id = %mail.id, attempts = mail.attempts + 1, %error, "mail past its deadline: given up");
                    outbox::give_up(db, &mail.id, now_millis(), &error).await?;
                } else {
                    tracing::warn!(id = %mail.id, attempts = mail.attempts + 1, %error, "mail not sent, will retry");
                    outbox::mark_failed(db, &mail.id, next, &error).await?;
                }
            }
        }
    }
    Ok(sent)
}
