//! Sign-in with a username and password (DESIGN §4.1).
//!
//! The username is the e-mail or the first and last name in any spacing and case. A name shared
//! by several accounts asks for the e-mail instead. Unknown users cost one hash too, so timing does
//! not tell who has an account.

use shared::OptionalText;
use std::net::IpAddr;
use std::sync::Arc;

use super::Result;
use super::accounts::{self, Account};
use super::audit::Audit;
use super::passwords::{self, Secret};
use super::throttle::Throttle;
use crate::store::Database;
use crate::store::accounts as store;
use shared::audit::kind;

/// More accounts than this sharing one e-mail are not tried one by one.
const MAX_SHARED_EMAIL: usize = 4;

#[derive(Debug)]
pub enum Outcome {
    SignedIn(Account),
    /// Wrong username or password; which one is never said.
    Invalid,
    /// Several accounts have this name: sign in with the e-mail.
    AmbiguousName,
    /// Too many failures for this account or address in the current window.
    Throttled {
        minutes: u64,
    },
}

#[derive(Clone)]
pub struct SignIn {
    db: Database,
    throttle: Throttle,
    audit: Audit,
    /// A real hash of a random password, verified for unknown users to spend the same time.
    dummy_hash: Arc<str>,
}

impl SignIn {
    pub async fn new(db: Database, throttle: Throttle, audit: Audit) -> anyhow::Result<Self> {
        let dummy_hash = passwords::hash(&passwords::temporary()).await?;
        Ok(Self {
            db,
            throttle,
            audit,
            dummy_hash: dummy_hash.into(),
        })
    }

    #[tracing::instrument(skip(self, password), fields(kind))]
    pub async fn sign_in(
        &self,
        username: &str,
        password: &Secret,
        from: IpAddr,
    ) -> Result<Outcome> {
        let minutes = self.throttle.window_minutes();
        // No account's name or e-mail holds a control character; none reaches the database.
        if shared::names::has_forbidden_control(username) {
            return Ok(Outcome::Invalid);
        }
        let typed = username.trim();
        let email = typed.to_lowercase();
        let key = shared::names::normalize(typed);
        // Counted by what was typed, so an unknown name is answered exactly like a known one.
        let login = if typed.contains('@') { &email } else { &key };
        let Some(delay) = self.throttle.admit(login, from).await? else {
            metrics::counter!("node_throttled_total").increment(1);
            return Ok(Outcome::Throttled { minutes });
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        // A store that does not answer is not a wrong guess: the place is given back, or an
        // outage of a few seconds would lock people out for the whole window.
        match self.check(username, password, login, from).await {
            Err(e) => {
                if let Err(release) = self.throttle.release(login, from).await {
                    tracing::warn!(error = %release, "a sign-in's throttle place was not given back");
                }
                Err(e)
            }
            outcome => outcome,
        }
    }

    /// The password check of an admitted attempt.
    async fn check(
        &self,
        username: &str,
        password: &Secret,
        login: &str,
        from: IpAddr,
    ) -> Result<Outcome> {
        let typed = username.trim();
        let email = typed.to_lowercase();
        let key = shared::names::normalize(typed);
        let rows = if key.is_empty() {
            Vec::new()
        } else {
            store::by_login(&self.db, &email, &key).await?
        };
        let (by_email, by_name): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|r| r.email.text() == Some(email.as_str()));
        let candidates = if !by_email.is_empty() {
            by_email
        } else if by_name.len() > 1 {
            self.throttle.release(login, from).await?;
            return Ok(Outcome::AmbiguousName);
        } else {
            by_name
        };
        let candidates: Vec<_> = candidates
            .into_iter()
            .filter(|r| !r.disabled)
            .take(MAX_SHARED_EMAIL)
            .collect();

        if candidates.is_empty() {
            passwords::verify(password, &self.dummy_hash).await?;
        }
        for row in &candidates {
            let stored = row.password_hash.as_deref().unwrap_or(&self.dummy_hash);
            if passwords::verify(password, stored).await? && row.password_hash.is_some() {
                self.throttle.succeeded(login, from).await?;
                let account = accounts::get(&self.db, &row.id).await?;
                let audit = &self.audit;
                let event = audit.event(kind::SIGNIN_PASSWORD, audit.person(&account), &account.id);
                audit.record(event).await?;
                return Ok(Outcome::SignedIn(account));
            }
        }
        // The failure was counted when the attempt was admitted. A wrong password for one
        // known account shows in its owner's activity; guesses at unknown names show nowhere.
        if let [row] = candidates.as_slice() {
            let actor = shared::audit::Actor::of(shared::audit::ActorKind::Person);
            let event = self.audit.event(kind::SIGNIN_PASSWORD, actor, &row.id);
            self.audit
                .record_or_log(event.failed("invalid_password"))
                .await;
        }
        Ok(Outcome::Invalid)
    }
}
