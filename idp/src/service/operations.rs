//! The rest of the federation's state as the console shows and steers it: signing keys, dead
//! letters, persons with their links, sessions and events. Every action is an audit event by
//! the operator; every look at a person is one in that person's data tracker.

use shared::Clock;
use shared::audit::{self, Event, Filter, Recorder, kind};

use super::clients::Registry;
use super::console::ConsoleSession;
use super::keys::KeyRing;
use super::links::{Links, account_subject};
use super::logout::Logout;
use super::sessions::{IdpSession, Sessions};
use crate::store::keys::KeyRow;
use crate::store::outbox::{self, DeadLetter};
use crate::store::persons::{self, LinkSince, PersonRow};
use crate::store::{self, Database};

pub const EVENT_KEYS_ROTATED: &str = "keys.rotated";
pub const EVENT_DEAD_LETTER: &str = "outbox.dead_letter";

/// How many persons a search shows at most.
pub const PERSONS_SHOWN: i64 = 50;

#[derive(Clone)]
pub struct Operations {
    pub db: Database,
    pub keys: KeyRing,
    pub links: Links,
    pub logout: Logout,
    pub sessions: Sessions,
    pub clients: Registry,
    pub audit: Recorder,
    pub clock: Clock,
    /// A retried dead letter gets this long again.
    pub retry_deadline_millis: i64,
    /// A rotated key stays published this long (what it signed must still verify).
    pub keep_rotated_seconds: i64,
}

/// A person found, with the institutions they are linked at.
pub struct PersonFound {
    pub person: PersonRow,
    pub institutions: Vec<String>,
}

/// One person as the console shows them.
pub struct PersonView {
    pub person: PersonRow,
    /// Each link with the institution's name.
    pub links: Vec<(LinkSince, String)>,
    pub sessions: Vec<IdpSession>,
    pub events: Vec<Event>,
}

impl Operations {
    pub async fn keys(&self) -> anyhow::Result<Vec<KeyRow>> {
        Ok(store::keys::published(&self.db, self.clock.now()).await?)
    }

    /// A new key for each algorithm that signs now; the old ones stay published a while.
    pub async fn rotate_keys(&self, by: &ConsoleSession) -> anyhow::Result<Vec<String>> {
        let now = self.clock.now();
        let mut made = Vec::new();
        let mut algs: Vec<String> = self
            .keys()
            .await?
            .into_iter()
            .filter(|k| k.retired_at.is_none())
            .map(|k| k.alg)
            .collect();
        algs.dedup();
        for alg in algs {
            let Some(alg) = shared::jwt::Alg::parse(&alg) else {
                continue;
            };
            made.push(
                self.keys
                    .rotate(&self.db, alg, self.keep_rotated_seconds, now)
                    .await?,
            );
        }
        self.keys.reload(&self.db).await?;
        let event = Event::new(EVENT_KEYS_ROTATED, by.actor()).detail(made.join(", "));
        self.audit.now(event).await?;
        Ok(made)
    }

    pub async fn dead_letters(&self) -> anyhow::Result<Vec<DeadLetter>> {
        Ok(outbox::dead_letters(&self.db).await?)
    }

    /// Sends a given-up message again (`retry`) or discards it; false when there is none.
    pub async fn settle_dead_letter(
        &self,
        id: &str,
        retry: bool,
        by: &ConsoleSession,
    ) -> anyhow::Result<bool> {
        let now = self.clock.now_millis();
        let done = if retry {
            outbox::retry(&self.db, id, now, now + self.retry_deadline_millis).await?
        } else {
            outbox::discard(&self.db, id).await?
        };
        if done {
            let what = if retry { "retry" } else { "discard" };
            let event = Event::new(EVENT_DEAD_LETTER, by.actor()).detail(format!("{what} {id}"));
            self.audit.now(event).await?;
        }
        Ok(done)
    }

    /// Persons by personal code or name. Each one shown is recorded as viewed by the operator,
    /// in the data tracker of each of their accounts.
    pub async fn search_persons(
        &self,
        query: &str,
        by: &ConsoleSession,
    ) -> anyhow::Result<Vec<PersonFound>> {
        let query = query.trim();
        if query.chars().count() < 2 {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for person in persons::search(&self.db, query, PERSONS_SHOWN).await? {
            let links = persons::links(&self.db, &person.id).await?;
            self.viewed(&person.id, by, "console search").await;
            found.push(PersonFound {
                institutions: links
                    .iter()
                    .map(|l| self.name_of(l.node_id.as_str()))
                    .collect(),
                person,
            });
        }
        Ok(found)
    }

    /// One person's links, live sessions and events (recorded as viewed).
    pub async fn person(
        &self,
        id: &str,
        by: &ConsoleSession,
    ) -> anyhow::Result<Option<PersonView>> {
        let Some(person) = persons::get(&self.db, id).await? else {
            return Ok(None);
        };
        let links = persons::links(&self.db, id).await?;
        self.viewed(id, by, "console person page").await;
        let mut sessions = Vec::new();
        for link in &links {
            for (_, session) in self.sessions.sessions_of(&link.node_id, &link.sub).await? {
                if !sessions.iter().any(|s: &IdpSession| s.sid == session.sid) {
                    sessions.push(session);
                }
            }
        }
        let with_times = match links.first() {
            Some(first) => persons::links_with_times(&self.db, first).await?,
            None => Vec::new(),
        };
        let mut subjects: Vec<String> = links.iter().map(account_subject).collect();
        subjects.push(format!("person:{id}"));
        let events = audit::list(
            &self.db,
            &Filter {
                subjects,
                limit: 200,
                ..Filter::default()
            },
        )
        .await?;
        Ok(Some(PersonView {
            links: with_times
                .into_iter()
                .map(|l| {
                    let name = self.name_of(&l.node_id);
                    (l, name)
                })
                .collect(),
            person,
            sessions,
            events,
        }))
    }

    /// Removes the person's link to their account at `node_id`: None when there is none, else
    /// whether the person is still one across institutions (two links or more left).
    pub async fn remove_link(
        &self,
        person_id: &str,
        node_id: &str,
        by: &ConsoleSession,
    ) -> anyhow::Result<Option<bool>> {
        let links = persons::links(&self.db, person_id).await?;
        let (Some(target), Some(from)) = (
            links.iter().find(|l| l.node_id.as_str() == node_id),
            links.iter().find(|l| l.node_id.as_str() != node_id),
        ) else {
            return Ok(None);
        };
        if !self
            .links
            .unlink_by(from, &target.node_id, by.actor())
            .await?
        {
            return Ok(None);
        }
        Ok(Some(persons::get(&self.db, person_id).await?.is_some()))
    }

    /// Ends every session of the person's accounts (each end announced to its schools, their
    /// grants revoked); how many ended.
    pub async fn end_sessions(
        &self,
        person_id: &str,
        by: &ConsoleSession,
    ) -> anyhow::Result<usize> {
        let links = persons::links(&self.db, person_id).await?;
        let now = self.clock.now();
        let mut ended = 0;
        if let Some(first) = links.first() {
            ended = self
                .logout
                .sign_out_everywhere_by(&first.node_id, &first.sub, now, by.actor())
                .await?;
        }
        Ok(ended)
    }

    pub async fn events(&self, filter: &Filter) -> anyhow::Result<Vec<Event>> {
        audit::list(&self.db, filter).await
    }

    /// The subjects (accounts and the person) of the person with this personal code, for an
    /// events filter; empty when no such person is known.
    pub async fn subjects_of_code(&self, code: &str) -> anyhow::Result<Vec<String>> {
        let mut subjects = Vec::new();
        for person in persons::search(&self.db, code.trim(), 5).await? {
            if person
                .personal_code
                .as_ref()
                .is_some_and(|c| c.as_str() == code.trim())
            {
                subjects.extend(
                    persons::links(&self.db, &person.id)
                        .await?
                        .iter()
                        .map(account_subject),
                );
                subjects.push(format!("person:{}", person.id));
            }
        }
        Ok(subjects)
    }

    fn name_of(&self, node_id: &str) -> String {
        self.clients
            .get_even_disabled(node_id)
            .map_or_else(|| node_id.to_owned(), |c| c.name.clone())
    }

    /// One event per look, on the person (whose data tracker reads it), not one per account.
    async fn viewed(&self, person_id: &str, by: &ConsoleSession, how: &str) {
        let event = Event::new(kind::DATA_VIEWED, by.actor())
            .subject(format!("person:{person_id}"))
            .detail(how);
        self.audit.soon(event).await;
    }
}
