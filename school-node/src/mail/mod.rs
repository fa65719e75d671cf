//! E-mail: letters are stored in the outbox first (in the same transaction as what caused them)
//! and sent by the delivery worker, to an SMTP server or as `.eml` files in a folder.

pub mod letters;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::store::outbox::{self, MailRow, NewMail};
use crate::store::{Database, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Each message becomes an `.eml` file in `dir`: the demo needs no mail server.
    File,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain SMTP, for a relay on the same host or network only.
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    pub transport: TransportKind,
    /// The sender address; the sender name is the institution's.
    pub from: String,
    /// Where `file` transport writes; defaults to `<data_dir>/mail`.
    pub dir: Option<PathBuf>,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: Security,
    pub smtp_username: Option<String>,
    #[serde(skip_serializing)]
    pub smtp_password: Option<shared::Secret>,
    /// How often the worker looks for due messages when nothing wakes it.
    pub poll_millis: u64,
    /// The first retry waits this long; each further one twice as long, up to `retry_max_millis`.
    pub retry_base_millis: u64,
    pub retry_max_millis: u64,
    /// A letter not delivered this long after it was written is given up and shown to the
    /// admin (Haldus → Kirjad), who can try it again or discard it.
    pub deadline_seconds: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: TransportKind::File,
            from: "robot@localhost".into(),
            dir: None,
            smtp_host: "localhost".into(),
            smtp_port: 587,
            smtp_security: Security::Starttls,
            smtp_username: None,
            smtp_password: None,
            poll_millis: 5_000,
            retry_base_millis: 10_000,
            retry_max_millis: 3_600_000,
            deadline_seconds: 3 * 24 * 3600,
        }
    }
}

enum Transport {
    File(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Sends one stored message.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    pub fn new(
        config: &MailConfig,
        institution_name: &str,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let address = config
            .from
            .parse()
            .with_context(|| format!("mail.from is not an e-mail address: {}", config.from))?;
        let from = Mailbox::new(Some(institution_name.to_owned()), address);
        let transport = match config.transport {
            TransportKind::File => {
                let dir = config.dir.clone().unwrap_or_else(|| data_dir.join("mail"));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create mail folder {}", dir.display()))?;
                Transport::File(AsyncFileTransport::new(dir))
            }
            TransportKind::Smtp => {
                let host = config.smtp_host.as_str();
                let builder = match config.smtp_security {
                    Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                    Security::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)?
                    }
                    Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)?,
                };
                let mut builder = builder
                    .port(config.smtp_port)
                    .timeout(Some(Duration::from_secs(15)));
                if let (Some(user), Some(password)) = (&config.smtp_username, &config.smtp_password)
                {
                    builder = builder
                        .credentials(Credentials::new(user.clone(), password.expose().to_owned()));
                }
                Transport::Smtp(builder.build())
            }
        };
        Ok(Self { transport, from })
    }

    pub async fn send(&self, mail: &MailRow) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(mail
                .recipient
                .parse()
                .context("the recipient is not an e-mail address")?)
            .subject(&mail.subject)
            .message_id(Some(format!("<{}@{}>", mail.id, self.from.email.domain())))
            .multipart(MultiPart::alternative_plain_html(
                mail.body_text.clone(),
                mail.body_html.clone(),
            ))?;
        match &self.transport {
            Transport::File(t) => t
                .send(message)
                .await
                .map(|_| ())
                .context("cannot write the message file"),
            Transport::Smtp(t) => t
                .send(message)
                .await
                .map(|_| ())
                .context("the SMTP server did not take the message"),
        }
    }
}

/// Queues letters and wakes the delivery worker.
#[derive(Clone)]
pub struct Outbox {
    db: Database,
    wake: Arc<Notify>,
}

pub use shared::retry::now_millis;

impl Outbox {
    pub fn new(db: Database) -> Self {
        Self {
            db,
            wake: Arc::new(Notify::new()),
        }
    }

    pub async fn enqueue(&self, mail: &NewMail) -> Result<()> {
        outbox::enqueue(&self.db, mail, now_millis()).await?;
        self.wake();
        Ok(())
    }

    /// Tells the worker that a message was queued by a transaction of its own.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The letters that were given up, for the admin.
    pub async fn dead_letters(&self) -> anyhow::Result<Vec<outbox::DeadLetter>> {
        Ok(outbox::dead_letters(&self.db).await?)
    }

    /// Tries a given-up letter again, with a new deadline; false when there is no such letter.
    pub async fn retry(&self, id: &str) -> anyhow::Result<bool> {
        let again = outbox::retry(&self.db, id, now_millis()).await?;
        self.wake();
        Ok(again)
    }

    /// Deletes a given-up letter; false when there is no such letter.
    pub async fn discard(&self, id: &str) -> anyhow::Result<bool> {
        Ok(outbox::discard(&self.db, id).await?)
    }

    pub(crate) fn notified(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}
