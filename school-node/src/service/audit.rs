//! The node's audit events (`shared::audit`): who signed in to an account, who looked at or
//! changed its data, in which role. The person sees them on their profile, an admin on the
//! account's page, the IdP's "Minu andmed" asks for them over the federation API, and
//! `school-node events` prints them.

use shared::audit::{Actor, ActorKind, Event, Filter};

use super::accounts::Account;
use crate::store::Database;

/// Who acts, as an account of this institution.
#[derive(Clone)]
pub struct Audit {
    pub db: Database,
    pub institution: String,
    pub institution_name: String,
}

impl Audit {
    /// `account` acting on its own data.
    pub fn person(&self, account: &Account) -> Actor {
        self.as_role(account, ActorKind::Person, None)
    }

    /// `account` acting as this school's administrator.
    pub fn admin(&self, account: &Account) -> Actor {
        self.as_role(account, ActorKind::Admin, Some("admin"))
    }

    /// `account` acting as a parent on a child's account.
    pub fn parent(&self, account: &Account) -> Actor {
        self.as_role(account, ActorKind::Parent, Some("parent"))
    }

    fn as_role(&self, account: &Account, kind: ActorKind, role: Option<&str>) -> Actor {
        Actor {
            kind,
            id: Some(account.id.clone()),
            name: Some(account.full_name()),
            institution: Some(self.institution.clone()),
            role: role.map(str::to_owned),
        }
    }

    /// An event here about account `subject`.
    pub fn event(&self, kind: &str, actor: Actor, subject: &str) -> Event {
        Event::new(kind, actor)
            .subject(subject)
            .at_institution(&self.institution)
    }

    pub async fn record(&self, event: Event) -> anyhow::Result<()> {
        shared::audit::record(&self.db, &event).await
    }

    /// Records an event that must not stop what it describes (a failed sign-in): a failure to
    /// record it is logged.
    pub async fn record_or_log(&self, event: Event) {
        if let Err(e) = self.record(event).await {
            tracing::error!(error = %format!("{e:#}"), "an audit event could not be recorded");
        }
    }

    /// The account's recent events, newest first.
    pub async fn of_account(&self, id: &str, limit: i64) -> anyhow::Result<Vec<Event>> {
        shared::audit::list(
            &self.db,
            &Filter {
                subjects: vec![id.to_owned()],
                limit,
                ..Filter::default()
            },
        )
        .await
    }
}
