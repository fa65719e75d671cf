//! "Forgot password" / "send me my access details" (DESIGN §4.2): a single-use sign-in link that
//! expires, sent to the account's e-mail. The answer never says whether an account exists.

use shared::OptionalText;
use std::net::IpAddr;

use rand::RngExt;

use super::accounts::{self, Account};
use super::passwords::{self, Secret};
use super::throttle::Throttle;
use super::{FieldErrors, Problem, Result};
use crate::i18n::Locale;
use crate::mail::Outbox;
use crate::mail::letters::{self, LetterContext};
use crate::store::{self, Database, tokens};

/// Links asked for from one address in a throttle window before requests are ignored.
const PER_ADDRESS: u64 = 10;
/// Letters to one account in a throttle window, so nobody can flood a mailbox.
const PER_ACCOUNT: u64 = 3;

#[derive(Clone)]
pub struct Recovery {
    pub db: Database,
    pub outbox: Outbox,
    pub throttle: Throttle,
    pub link_minutes: i64,
    pub site_url: String,
    pub institution: String,
    /// The institution's id, for the audit event of a password chosen through a link.
    pub institution_id: String,
}

fn hash(token: &str) -> String {
    shared::http::sha256_hex(token)
}

fn looks_like_token(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Recovery {
    /// Sends a link to every account the typed name or e-mail means that has an e-mail address.
    #[tracing::instrument(skip(self, typed))]
    pub async fn request(&self, typed: &str, locale: Locale, from: IpAddr) -> Result<()> {
        if self
            .throttle
            .hit_address("recovery", from, PER_ADDRESS)
            .await?
        {
            tracing::info!("recovery requests from this address are paused");
            return Ok(());
        }
        let typed = typed.trim();
        let key = shared::names::normalize(typed);
        if key.is_empty() {
            return Ok(());
        }
        let rows = store::accounts::by_login(&self.db, &typed.to_lowercase(), &key).await?;
        let at = store::now();
        for row in rows.into_iter().filter(|r| !r.disabled) {
            let Some(email) = row.email.text() else {
                continue;
            };
            if self
                .throttle
                .hit("recovery-account", &row.id, PER_ACCOUNT)
                .await?
            {
                continue;
            }
            let bytes: [u8; 32] = rand::rng().random();
            let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            tokens::insert(
                &self.db,
                &hash(&token),
                &row.id,
                at,
                at + self.link_minutes * 60,
            )
            .await?;
            // In the language the person last chose here, else the page's.
            let locale = store::accounts::locale(&self.db, &row.id)
                .await?
                .and_then(|code| Locale::parse(&code))
                .unwrap_or(locale);
            let ctx = LetterContext {
                locale,
                institution: &self.institution,
                site_url: &self.site_url,
            };
            let link = format!("{}/reset/{token}", self.site_url);
            let name = format!("{} {}", row.first_name, row.last_name);
            self.outbox
                .enqueue(&letters::sign_in_link(
                    &ctx,
                    email,
                    &name,
                    &link,
                    self.link_minutes,
                ))
                .await?;
        }
        Ok(())
    }

    /// The account a link would sign in, while the link is unused and fresh. Opening the link
    /// does not use it: mail scanners open links too.
    pub async fn account_for(&self, token: &str) -> Result<Option<Account>> {
        if !looks_like_token(token) {
            return Ok(None);
        }
        match tokens::peek(&self.db, &hash(token), store::now()).await? {
            Some(id) => accounts::find(&self.db, &id)
                .await
                .map(|a| a.filter(|a| !a.disabled)),
            None => Ok(None),
        }
    }

    /// Uses the link to set the chosen password; `Ok(None)` when the link is no good.
    pub async fn choose_password(
        &self,
        token: &str,
        password: &Secret,
        again: &Secret,
    ) -> Result<Option<Account>> {
        // The rule first, so a typo does not use up the link.
        if let Err(p) = passwords::check_new(password.expose(), again.expose()) {
            return Err(match p {
                passwords::PasswordProblem::TooShort => {
                    FieldErrors::one("password", Problem::PasswordTooShort)
                }
                passwords::PasswordProblem::Mismatch => {
                    FieldErrors::one("password_again", Problem::PasswordMismatch)
                }
            });
        }
        if self.account_for(token).await?.is_none() {
            return Ok(None);
        }
        let hash_value = passwords::hash(password).await?;
        let at = store::now();
        let Some(id) = tokens::consume(&self.db, &hash(token), at).await? else {
            return Ok(None);
        };
        let event = shared::audit::Event::new(
            shared::audit::kind::PASSWORD_SET,
            shared::audit::Actor {
                id: Some(id.clone()),
                ..shared::audit::Actor::of(shared::audit::ActorKind::Person)
            },
        )
        .subject(&id)
        .at_institution(&self.institution_id)
        .detail("reset_link");
        store::accounts::set_password(&self.db, &id, &hash_value, false, Some(&event)).await?;
        tokens::revoke_for_account(&self.db, &id, at).await?;
        accounts::find(&self.db, &id).await
    }
}
