//! "Minu andmed": a person sees and steers their own federation — their linked institutions,
//! their sessions (and ends them), their sign-ins, and who viewed or changed their data
//! (the data tracker, asked of each linked school), and downloads it all as JSON.
//!
//! The person is whoever is signed in in this browser's IdP session: their accounts are the
//! session's accounts and every account linked to them. Every action is checked against that
//! set: a session id or an institution from a form is looked up among the person's own.

use std::collections::{BTreeMap, BTreeSet};

use shared::audit::{ActorKind, Event, Filter, kind};
use shared::{AccountId, ClientId, Clock};

use super::clients::Registry;
use super::federation::NodeApi;
use super::links::{Links, account_subject};
use super::logout::Logout;
use super::sessions::{IdpSession, Sessions};
use crate::store::Database;
use crate::store::persons::{self, Link};

/// How far back the page shows sign-ins.
pub const ACTIVITY_DAYS: i64 = 90;
/// How far back the data tracker reaches.
pub const TRACKER_DAYS: i64 = 365;

#[derive(Clone)]
pub struct MyData {
    pub db: Database,
    pub sessions: Sessions,
    pub links: Links,
    pub logout: Logout,
    pub clients: Registry,
    pub nodes: NodeApi,
    pub audit: shared::audit::Recorder,
    pub clock: Clock,
}

/// One of the person's accounts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccountView {
    pub node_id: String,
    pub institution: String,
    pub logo_url: Option<String>,
    pub sub: String,
    /// When it was linked (Unix milliseconds); None for an account linked to nothing.
    pub linked_at: Option<i64>,
}

/// One of the person's IdP sessions.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionView {
    pub sid: String,
    pub user_agent: Option<String>,
    pub network: Option<String>,
    pub started: i64,
    pub last_used: i64,
    /// The institutions signed in in it: (node id, name).
    pub institutions: Vec<(String, String)>,
    /// The session this page is open in.
    pub current: bool,
}

/// An event at one of the person's institutions, with where it happened.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrackedEvent {
    /// The name of the institution where it happened (the event names its id).
    pub institution_name: String,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Overview {
    pub person_id: Option<String>,
    pub accounts: Vec<AccountView>,
    pub sessions: Vec<SessionView>,
    /// Sign-ins of the last `ACTIVITY_DAYS`, newest first.
    pub activity: Vec<Event>,
    /// Who else viewed or changed the person's data, newest first.
    pub tracker: Vec<TrackedEvent>,
    /// Institutions whose events could not be read just now.
    pub unavailable: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MyDataError {
    /// No one is signed in in this browser.
    #[error("not signed in")]
    NotSignedIn,
    /// Not one of the person's sessions or institutions.
    #[error("not yours")]
    NotFound,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for MyDataError {
    fn from(e: sqlx::Error) -> Self {
        MyDataError::Internal(e.into())
    }
}

impl MyData {
    async fn current(&self, cookie: Option<&str>) -> Result<IdpSession, MyDataError> {
        let Some(cookie) = cookie else {
            return Err(MyDataError::NotSignedIn);
        };
        match self.sessions.load(cookie).await? {
            Some(session) if !session.accounts.is_empty() => Ok(session),
            _ => Err(MyDataError::NotSignedIn),
        }
    }

    /// The person's accounts: the session's and every one linked to them.
    async fn accounts(&self, session: &IdpSession) -> anyhow::Result<Vec<(Link, Option<i64>)>> {
        let mut found: BTreeMap<(String, String), Option<i64>> = BTreeMap::new();
        for (node_id, account) in &session.accounts {
            let link = Link {
                node_id: node_id.clone(),
                sub: account.sub.clone(),
            };
            let linked = persons::links_with_times(&self.db, &link).await?;
            if linked.is_empty() {
                found
                    .entry((node_id.to_string(), account.sub.to_string()))
                    .or_insert(None);
            }
            for l in linked {
                found.insert((l.node_id, l.sub), Some(l.linked_at));
            }
        }
        Ok(found
            .into_iter()
            .map(|((node_id, sub), at)| {
                (
                    Link {
                        node_id: ClientId::new(node_id),
                        sub: AccountId::from(sub.as_str()),
                    },
                    at,
                )
            })
            .collect())
    }

    /// Every live session of the person's accounts, by cookie.
    async fn sessions_of(&self, accounts: &[Link]) -> anyhow::Result<Vec<(String, IdpSession)>> {
        let mut seen = BTreeSet::new();
        let mut all = Vec::new();
        for account in accounts {
            for (cookie, session) in self
                .sessions
                .sessions_of(&account.node_id, &account.sub)
                .await?
            {
                if seen.insert(session.sid.to_string()) {
                    all.push((cookie, session));
                }
            }
        }
        all.sort_by_key(|(_, s)| std::cmp::Reverse(s.last_seen.max(s.created_at)));
        Ok(all)
    }

    fn name_of(&self, node_id: &str) -> String {
        self.clients
            .get(node_id)
            .map_or_else(|| node_id.to_owned(), |c| c.name.clone())
    }

    pub async fn overview(&self, cookie: Option<&str>) -> Result<Overview, MyDataError> {
        let session = self.current(cookie).await?;
        let accounts = self.accounts(&session).await?;
        let links: Vec<Link> = accounts.iter().map(|(l, _)| l.clone()).collect();
        let person_id = match links.first() {
            Some(l) => persons::person_of(&self.db, l).await?,
            None => None,
        };
        let sessions = self
            .sessions_of(&links)
            .await?
            .into_iter()
            .map(|(_, s)| SessionView {
                current: s.sid == session.sid,
                institutions: s
                    .accounts
                    .keys()
                    .map(|id| (id.to_string(), self.name_of(id.as_str())))
                    .collect(),
                sid: s.sid.to_string(),
                user_agent: s.user_agent.clone(),
                network: s.network.clone(),
                started: s.created_at * 1_000,
                last_used: s.last_seen.max(s.created_at) * 1_000,
            })
            .collect();
        let now_ms = self.clock.now_millis();
        let mut subjects: Vec<String> = links.iter().map(account_subject).collect();
        if let Some(id) = &person_id {
            subjects.push(format!("person:{id}"));
        }
        let (activity, at_idp): (Vec<Event>, Vec<Event>) = shared::audit::list(
            &self.db,
            &Filter {
                subjects,
                since: Some(now_ms - ACTIVITY_DAYS * 86_400_000),
                limit: 200,
                ..Filter::default()
            },
        )
        .await?
        .into_iter()
        .filter(|e| e.kind.starts_with("signin.") || by_an_operator(e))
        .partition(|e| e.kind.starts_with("signin."));
        let (mut tracker, unavailable) = self.tracker(&links, now_ms).await;
        // What the federation's operators did with the person's data, at the IdP itself (the
        // schools report what happened there).
        tracker.extend(at_idp.into_iter().map(|event| {
            TrackedEvent {
                institution_name: event
                    .institution
                    .as_deref()
                    .map(|id| self.name_of(id))
                    .unwrap_or_default(),
                event,
            }
        }));
        tracker.sort_by_key(|t| std::cmp::Reverse(t.event.at));
        let accounts = accounts
            .into_iter()
            .map(|(l, linked_at)| {
                let client = self.clients.get(&l.node_id);
                AccountView {
                    institution: self.name_of(l.node_id.as_str()),
                    logo_url: client.and_then(|c| c.logo_url.clone()),
                    node_id: l.node_id.to_string(),
                    sub: l.sub.to_string(),
                    linked_at,
                }
            })
            .collect();
        Ok(Overview {
            person_id,
            accounts,
            sessions,
            activity,
            tracker,
            unavailable,
        })
    }

    /// The data tracker: each school is asked for its account's events (all at once), and
    /// those by anyone but the person are kept. A school that does not answer is named.
    async fn tracker(&self, accounts: &[Link], now_ms: i64) -> (Vec<TrackedEvent>, Vec<String>) {
        let since = now_ms - TRACKER_DAYS * 86_400_000;
        let mut asks = tokio::task::JoinSet::new();
        for account in accounts.iter().cloned() {
            let (clients, nodes) = (self.clients.clone(), self.nodes.clone());
            asks.spawn(async move {
                let events = match clients.get(&account.node_id) {
                    Some(node) => nodes.events_of(&node, &account.sub, since).await,
                    None => Err(anyhow::anyhow!("{} is not registered", account.node_id)),
                };
                (account.node_id, events)
            });
        }
        let mut tracked = Vec::new();
        let mut unavailable = Vec::new();
        for (node_id, events) in asks.join_all().await {
            let institution = self.name_of(node_id.as_str());
            match events {
                Ok(events) => {
                    tracked.extend(events.into_iter().filter(by_someone_else).map(|event| {
                        TrackedEvent {
                            institution_name: institution.clone(),
                            event,
                        }
                    }))
                }
                Err(e) => {
                    tracing::warn!(node = %node_id, error = %format!("{e:#}"), "a school's events could not be read");
                    unavailable.push(institution);
                }
            }
        }
        tracked.sort_by_key(|t| std::cmp::Reverse(t.event.at));
        (tracked, unavailable)
    }

    /// Every live session of the person signed in behind `cookie`, by cookie.
    async fn person_sessions(
        &self,
        cookie: Option<&str>,
    ) -> Result<Vec<(String, IdpSession)>, MyDataError> {
        let session = self.current(cookie).await?;
        let links: Vec<Link> = self
            .accounts(&session)
            .await?
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        Ok(self.sessions_of(&links).await?)
    }

    /// One of the person's sessions by its `sid` (a form's value is only looked up among them).
    async fn person_session(
        &self,
        cookie: Option<&str>,
        sid: &str,
    ) -> Result<(String, IdpSession), MyDataError> {
        self.person_sessions(cookie)
            .await?
            .into_iter()
            .find(|(_, s)| s.sid.as_str() == sid)
            .ok_or(MyDataError::NotFound)
    }

    /// Ends one of the person's sessions (this one or another browser's).
    pub async fn end_session(&self, cookie: Option<&str>, sid: &str) -> Result<(), MyDataError> {
        let (cookie, found) = self.person_session(cookie, sid).await?;
        self.logout.end_from_my_page(&cookie, &found).await?;
        Ok(())
    }

    /// Signs the person out of one institution in one of their sessions.
    pub async fn leave(
        &self,
        cookie: Option<&str>,
        sid: &str,
        node_id: &str,
    ) -> Result<(), MyDataError> {
        let (cookie, found) = self.person_session(cookie, sid).await?;
        let node_id = ClientId::new(node_id);
        if !found.accounts.contains_key(&node_id) {
            return Err(MyDataError::NotFound);
        }
        self.logout
            .leave_institution(&cookie, found, &node_id)
            .await?;
        Ok(())
    }

    /// Ends every session of the person, this one too; returns how many.
    pub async fn end_all(&self, cookie: Option<&str>) -> Result<usize, MyDataError> {
        let all = self.person_sessions(cookie).await?;
        for (cookie, found) in &all {
            self.logout.end_from_my_page(cookie, found).await?;
        }
        Ok(all.len())
    }

    /// The person's linked account at `node_id` (for the question before its link goes): its
    /// institution's name. Nothing else is read for it.
    pub async fn linked_institution(
        &self,
        cookie: Option<&str>,
        node_id: &str,
    ) -> Result<String, MyDataError> {
        let session = self.current(cookie).await?;
        self.accounts(&session)
            .await?
            .into_iter()
            .find(|(l, at)| l.node_id.as_str() == node_id && at.is_some())
            .map(|(l, _)| self.name_of(l.node_id.as_str()))
            .ok_or(MyDataError::NotFound)
    }

    /// Removes the link to the person's account at `node_id`, asked from their own page.
    pub async fn remove_link(
        &self,
        cookie: Option<&str>,
        node_id: &str,
    ) -> Result<(), MyDataError> {
        let session = self.current(cookie).await?;
        let accounts = self.accounts(&session).await?;
        let target = accounts
            .iter()
            .find(|(l, at)| l.node_id.as_str() == node_id && at.is_some())
            .map(|(l, _)| l.clone())
            .ok_or(MyDataError::NotFound)?;
        // Unlinked from any other of the person's accounts: the link is the person's, not a pair's.
        let from = accounts
            .iter()
            .map(|(l, _)| l)
            .find(|l| l.node_id != target.node_id)
            .cloned()
            .ok_or(MyDataError::NotFound)?;
        if !self.links.unlink(&from, &target.node_id).await? {
            return Err(MyDataError::NotFound);
        }
        Ok(())
    }

    /// Everything the federation holds of the person (GDPR articles 15 and 20): the IdP's
    /// person record, the links, each school's account data as the federation API gives it,
    /// the sessions and the events.
    pub async fn download(&self, cookie: Option<&str>) -> Result<serde_json::Value, MyDataError> {
        let overview = self.overview(cookie).await?;
        let person = match &overview.person_id {
            Some(id) => persons::get(&self.db, id).await?.map(|p| {
                serde_json::json!({
                    "id": p.id,
                    "first_name": p.first_name,
                    "last_name": p.last_name,
                    "personal_code": p.personal_code.as_ref().map(|c| c.as_str().to_owned()),
                    "email": p.email.as_ref().map(|e| e.as_str().to_owned()),
                    "phone": p.phone.as_ref().map(|p| p.as_str().to_owned()),
                    "address": p.address,
                })
            }),
            None => None,
        };
        let mut accounts = Vec::new();
        for account in &overview.accounts {
            let data = self
                .links
                .lookup(
                    &ClientId::new(&account.node_id),
                    &AccountId::from(account.sub.as_str()),
                )
                .await
                .ok()
                .flatten()
                .map(|a| serde_json::to_value(&a.profile).unwrap_or_default());
            accounts.push(serde_json::json!({
                "institution": account.institution,
                "client_id": account.node_id,
                "account": account.sub,
                "linked_at": account.linked_at,
                "data": data,
            }));
        }
        Ok(serde_json::json!({
            "person": person,
            "accounts": accounts,
            "sessions": overview.sessions,
            "sign_ins": overview.activity,
            "data_tracker": overview.tracker,
            "institutions_not_answering": overview.unavailable,
        }))
    }
}

/// Whether an event is someone else's use of the person's data (the data tracker shows
/// these; the person's own sign-ins are their activity).
/// An operator's look at or action on the person, in the IdP's own events.
fn by_an_operator(event: &Event) -> bool {
    event.actor.kind == ActorKind::Operator
        && (event.kind == kind::UNLINK || by_someone_else(event))
}

fn by_someone_else(event: &Event) -> bool {
    event.actor.kind != ActorKind::Person
        && (matches!(
            event.kind.as_str(),
            kind::DATA_VIEWED
                | kind::DATA_READ
                | kind::PROFILE_CHANGED
                | kind::PASSWORD_SET
                | kind::PASSWORD_TEMPORARY
                | kind::ACCOUNT_CREATED
                | kind::ACCOUNT_CLOSED
                | kind::ACCOUNT_REOPENED
                | kind::SIGNOUT
        ))
}
