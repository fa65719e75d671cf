//! The operators' console (`/admin`): who may use it and its sessions. Operators are named in
//! the IdP's configuration by personal code and sign in only through an eID upstream, at `acr`
//! substantial or higher; a password never opens the console. A console session is its own
//! (not the person's single sign-on session), bound to the browser it began in, short when
//! idle, and ended by the IdP's sign-out in that browser.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::Clock;
use shared::audit::{Actor, ActorKind, Event, Recorder};
use shared::ephemeral::Ephemeral;

use super::random_token;
use super::upstream::EidPerson;
use crate::oidc::acr::Acr;

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Persons, links, sessions and events: the questions a help desk is asked.
    #[default]
    Helpdesk,
    /// Everything: institutions, enrolment, signing keys and dead letters too.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Helpdesk => "helpdesk",
            Role::Operator => "operator",
        }
    }
}

/// One `[[operators]]` table of the IdP's configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct OperatorConfig {
    /// The Estonian personal code (isikukood) the eID upstream proves.
    pub personal_code: String,
    /// As shown in the console and in the data tracker of the persons an action touches.
    pub name: String,
    pub role: Role,
}

/// A signed-in operator, as each console request sees them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsoleSession {
    pub personal_code: String,
    pub name: String,
    pub role: Role,
    pub acr: Acr,
    /// The eID method (`amr`) the operator signed in with.
    pub method: String,
    /// `Browser::binding` of the browser it began in: the cookie works in no other.
    pub browser: String,
    pub created_at: i64,
}

impl ConsoleSession {
    /// The operator as the actor of an audit event.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: ActorKind::Operator,
            id: Some(self.personal_code.clone()),
            name: Some(self.name.clone()),
            institution: None,
            role: Some(self.role.as_str().to_owned()),
        }
    }

    pub fn may(&self, needed: Role) -> bool {
        self.role >= needed
    }
}

/// Why an eID sign-in did not open the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleRefusal {
    /// The person is proven but is not listed as an operator.
    NotOperator,
    /// The eID answer was at a level below what the console asks.
    WeakAssurance,
}

/// Why the console stays closed to this person, if it does: the rule, apart from the rest.
fn refusal(operator: Option<&OperatorConfig>, min_acr: Acr, got: Acr) -> Option<ConsoleRefusal> {
    match operator {
        None => Some(ConsoleRefusal::NotOperator),
        Some(_) if !min_acr.satisfied_by(Some(got)) => Some(ConsoleRefusal::WeakAssurance),
        Some(_) => None,
    }
}

pub const EVENT_SIGNIN: &str = "console.signin";
pub const EVENT_SIGNOUT: &str = "console.signout";

#[derive(Clone)]
pub struct Console {
    pub store: Ephemeral,
    pub operators: Arc<Vec<OperatorConfig>>,
    pub idle: Duration,
    /// However busy, a console session ends this long after it began.
    pub max_seconds: i64,
    pub min_acr: Acr,
    pub clock: Clock,
    pub audit: Recorder,
}

fn key(cookie: &str) -> String {
    format!("console:{}", shared::http::sha256_hex(cookie))
}

impl Console {
    /// Opens the console for a person an eID upstream proved, when they are an operator and
    /// the proof is strong enough; the value of the new session's cookie.
    pub async fn sign_in(
        &self,
        person: &EidPerson,
        browser: &str,
    ) -> anyhow::Result<Result<String, ConsoleRefusal>> {
        let code = person.personal_code.as_str();
        let operator = self.operators.iter().find(|o| o.personal_code == code);
        let refusal = refusal(operator, self.min_acr, person.acr);
        let actor = Actor {
            kind: ActorKind::Operator,
            id: Some(code.to_owned()),
            name: operator.map(|o| o.name.clone()),
            institution: None,
            role: operator.map(|o| o.role.as_str().to_owned()),
        };
        let event =
            Event::new(EVENT_SIGNIN, actor).detail(format!("{} acr {}", person.amr, person.acr));
        let (Some(operator), None) = (operator, refusal) else {
            let reason = match refusal {
                Some(ConsoleRefusal::WeakAssurance) => "weak_assurance",
                _ => "not_operator",
            };
            self.audit.soon(event.failed(reason)).await;
            return Ok(Err(refusal.unwrap_or(ConsoleRefusal::NotOperator)));
        };
        let session = ConsoleSession {
            personal_code: operator.personal_code.clone(),
            name: operator.name.clone(),
            role: operator.role,
            acr: person.acr,
            method: person.amr.clone(),
            browser: browser.to_owned(),
            created_at: self.clock.now(),
        };
        let cookie = random_token();
        self.store
            .set(&key(&cookie), &serde_json::to_vec(&session)?, self.idle)
            .await?;
        self.audit.now(event).await?;
        Ok(Ok(cookie))
    }

    /// The session behind a console cookie in this browser, its idle time begun anew; None
    /// when there is none, it ran out, or the cookie came from another browser.
    pub async fn session(
        &self,
        cookie: &str,
        browser: &str,
    ) -> anyhow::Result<Option<ConsoleSession>> {
        if !super::is_token(cookie) {
            return Ok(None);
        }
        let Some(bytes) = self.store.get(&key(cookie)).await? else {
            return Ok(None);
        };
        let Ok(session) = serde_json::from_slice::<ConsoleSession>(&bytes) else {
            return Ok(None);
        };
        if session.browser != browser || self.clock.now() - session.created_at >= self.max_seconds {
            return Ok(None);
        }
        self.store.set(&key(cookie), &bytes, self.idle).await?;
        Ok(Some(session))
    }

    /// Ends the console session behind `cookie` (the console's sign-out button, or the IdP's
    /// sign-out in the same browser).
    pub async fn end(&self, cookie: &str) -> anyhow::Result<()> {
        if !super::is_token(cookie) {
            return Ok(());
        }
        if let Some(bytes) = self.store.take(&key(cookie)).await?
            && let Ok(session) = serde_json::from_slice::<ConsoleSession>(&bytes)
        {
            self.audit
                .soon(Event::new(EVENT_SIGNOUT, session.actor()))
                .await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_listed_operator_proven_at_substantial_or_higher_gets_in() {
        let tonu = OperatorConfig {
            personal_code: "39207070221".into(),
            name: "Tõnu Tundmatu".into(),
            role: Role::Operator,
        };
        let min = Acr::Substantial;
        assert_eq!(refusal(Some(&tonu), min, Acr::High), None);
        assert_eq!(refusal(Some(&tonu), min, Acr::Substantial), None);
        assert_eq!(
            refusal(Some(&tonu), min, Acr::Low),
            Some(ConsoleRefusal::WeakAssurance)
        );
        assert_eq!(
            refusal(None, min, Acr::High),
            Some(ConsoleRefusal::NotOperator)
        );
        let helpdesk = ConsoleSession {
            personal_code: "37605030299".into(),
            name: "Jaan Tamm".into(),
            role: Role::Helpdesk,
            acr: Acr::High,
            method: "idcard".into(),
            browser: "b".into(),
            created_at: 0,
        };
        assert!(helpdesk.may(Role::Helpdesk));
        assert!(!helpdesk.may(Role::Operator));
    }
}
