//! The delivery worker: sends due messages from the outbox and retries failures with
//! exponential backoff, so an SMTP server that is down gets every message when it is back.

use std::sync::Arc;
use std::time::Duration;

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
) -> JoinHandle<()> {
    let wake = outbox.notified();
    tokio::spawn(async move {
        let poll = Duration::from_millis(config.poll_millis.max(10));
        loop {
            if let Err(e) = deliver_due(&db, &mailer, &config).await {
                tracing::warn!(error = %format!("{e:#}"), "mail delivery round failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = wake.notified() => {}
            }
        }
    })
}

fn backoff(config: &MailConfig, attempts: i32) -> i64 {
    let exponent = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
    let wait = config
        .retry_base_millis
        .saturating_mul(1u64 << exponent)
        .min(config.retry_max_millis);
    i64::try_from(wait).unwrap_or(i64::MAX)
}

/// Sends every due message once; returns how many went out.
pub async fn deliver_due(
    db: &Database,
    mailer: &Mailer,
    config: &MailConfig,
) -> anyhow::Result<usize> {
    let mut sent = 0;
    let at = now_millis();
    for mail in outbox::due(db, at, BATCH).await? {
        if !outbox::claim(db, &mail.id, at, at + CLAIM_MILLIS).await? {
            continue;
        }
        match mailer.send(&mail).await {
            Ok(()) => {
                outbox::mark_sent(db, &mail.id, now_millis()).await?;
                tracing::info!(id = %mail.id, attempts = mail.attempts + 1, "mail sent");
                sent += 1;
            }
            Err(e) => {
                let error = format!("{e:#}");
                let next = now_millis() + backoff(config, mail.attempts);
                tracing::warn!(id = %mail.id, attempts = mail.attempts + 1, %error, "mail not sent, will retry");
                outbox::mark_failed(db, &mail.id, next, &error).await?;
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = MailConfig {
            retry_base_millis: 100,
            retry_max_millis: 1_000,
            ..MailConfig::default()
        };
        let waits: Vec<i64> = (0..6).map(|a| backoff(&config, a)).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(backoff(&config, 10_000), 1_000);
    }
}
