//! Audit events, the data tracker ("andmejälgija"): who saw or changed whose data, when, at
//! which institution, in which role, from which network, and in answer to which request. Both
//! services keep them in their own database (`audit_events`, appended and never edited) and
//! sweep them after `audit_retention_days`; with `audit_log` each is also one JSON line on the
//! log target `audit`, for a SIEM.
//!
//! An event never holds a password, a token or an old value: a profile change names the fields
//! that changed, not what they were.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::db::{Bind, Db, Statement};
use crate::with_db;

/// The kinds of events, as stored (the pages and `events --kind` use these names).
pub mod kind {
    pub const SIGNIN_PASSWORD: &str = "signin.password";
    pub const SIGNIN_SSO: &str = "signin.sso";
    pub const SIGNIN_EID: &str = "signin.eid";
    /// A silent single sign-on hop, a nav-bar jump among them.
    pub const SIGNIN_HOP: &str = "signin.hop";
    pub const SIGNOUT: &str = "signout";
    pub const LINK: &str = "link";
    pub const UNLINK: &str = "unlink";
    pub const MERGE: &str = "merge";
    pub const PROFILE_CHANGED: &str = "profile.changed";
    pub const PASSWORD_SET: &str = "password.set";
    pub const PASSWORD_TEMPORARY: &str = "password.temporary";
    pub const ACCOUNT_CREATED: &str = "account.created";
    pub const ACCOUNT_CLOSED: &str = "account.closed";
    pub const ACCOUNT_REOPENED: &str = "account.reopened";
    pub const APPLICATION_APPROVED: &str = "application.approved";
    pub const APPLICATION_REJECTED: &str = "application.rejected";
    pub const IMPORT: &str = "import.csv";
    /// Someone opened the person's data (an admin's account page, a parent's child page).
    pub const DATA_VIEWED: &str = "data.viewed";
    /// Another institution read the person's data over the federation (to compare for linking).
    pub const DATA_READ: &str = "data.read";
}

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// The person themselves (the account's owner, or the IdP's person).
    Person,
    /// A school's administrator.
    Admin,
    /// A parent, on a child's account.
    Parent,
    /// An operator of the federation (the IdP's console).
    Operator,
    /// Another institution, through the federation (a sync, a read for linking).
    Institution,
    /// The system itself (expiry, a sweep).
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Person => "person",
            ActorKind::Admin => "admin",
            ActorKind::Parent => "parent",
            ActorKind::Operator => "operator",
            ActorKind::Institution => "institution",
            ActorKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> ActorKind {
        match s {
            "person" => ActorKind::Person,
            "admin" => ActorKind::Admin,
            "parent" => ActorKind::Parent,
            "operator" => ActorKind::Operator,
            "institution" => ActorKind::Institution,
            _ => ActorKind::System,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// The actor's account (or person, or personal code of an operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Shown to the person: "Anne Direktor".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The institution the actor acted at or for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
    /// The actor's role there ("admin", "parent", …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Self::of(ActorKind::System)
    }

    /// Another institution, through the federation: its id, its name when known, and what it
    /// did it as (`sync`, `linking`, …).
    pub fn institution(id: &str, name: Option<&str>, role: Option<&str>) -> Self {
        Actor {
            kind: ActorKind::Institution,
            id: None,
            name: name.map(str::to_owned),
            institution: Some(id.to_owned()),
            role: role.map(str::to_owned),
        }
    }

    pub fn of(kind: ActorKind) -> Self {
        Actor {
            kind,
            id: None,
            name: None,
            institution: None,
            role: None,
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unix milliseconds.
    pub at: i64,
    /// What happened: `signin.password`, `profile.changed`, `data.viewed`, …
    pub kind: String,
    /// `ok`, or `failed:<reason class>`.
    pub outcome: String,
    pub actor: Actor,
    /// Whose data: the node's account id, or at the IdP a person (`person:<id>`) or an
    /// account (`<institution>/<account id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The institution where it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The client's network (IPv4 /24, IPv6 /48), never the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// What else the event needs, never a secret or an old value: the changed fields' names,
    /// the method of a sign-in, the reason of a sign-out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The client whose request is being answered, as events and sessions record it.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// IPv4 /24 or IPv6 /48.
    pub network: Option<String>,
    /// The browser's `User-Agent`, cut to 200 characters.
    pub user_agent: Option<String>,
}

tokio::task_local! {
    static CLIENT: Client;
}

/// The client of the request this task is answering (empty outside a request).
pub fn current_client() -> Client {
    CLIENT.try_with(Clone::clone).unwrap_or_default()
}

/// Runs `work` with the client known to every event it records.
pub async fn with_client<F: std::future::Future>(client: Client, work: F) -> F::Output {
    CLIENT.scope(client, work).await
}

/// The middleware: every event recorded while a request is answered names the client's
/// network (`trust_forwarded_for` as the service is configured).
pub async fn client_network(
    axum::extract::State(trust_forwarded_for): axum::extract::State<bool>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let client = Client {
        network: crate::http::client_addr(&parts, trust_forwarded_for).map(network_of),
        user_agent: parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(200).collect()),
    };
    let request = axum::extract::Request::from_parts(parts, body);
    with_client(client, next.run(request)).await
}

/// The network an address is recorded by: IPv4 /24, IPv6 /48. Enough to tell "at school" from
/// "abroad", not enough to point at a household.
pub fn network_of(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

impl Event {
    /// A successful event of `kind` by `actor`, now, in the current request (its id and the
    /// client's network are taken from the request being answered).
    pub fn new(kind: &str, actor: Actor) -> Self {
        Event {
            at: crate::retry::now_millis(),
            kind: kind.to_owned(),
            outcome: "ok".into(),
            actor,
            subject: None,
            institution: None,
            request_id: crate::observe::current_request_id(),
            network: CLIENT.try_with(|c| c.network.clone()).ok().flatten(),
            detail: None,
        }
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn at_institution(mut self, institution: impl Into<String>) -> Self {
        self.institution = Some(institution.into());
        self
    }

    pub fn failed(mut self, reason: &str) -> Self {
        self.outcome = format!("failed:{reason}");
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

static AUDIT_LOG: AtomicBool = AtomicBool::new(false);

/// With `audit_log = true` every event is also written to the log target `audit`.
pub fn log_events(on: bool) {
    AUDIT_LOG.store(on, Ordering::Relaxed);
}

fn log(event: &Event) {
    if AUDIT_LOG.load(Ordering::Relaxed)
        && let Ok(line) = serde_json::to_string(event)
    {
        tracing::info!(target: "audit", event = %line, "audit");
    }
}

const INSERT: &str = "INSERT INTO audit_events (at, kind, outcome, actor_kind, actor_id, actor_name, \
     actor_institution, actor_role, subject, institution, request_id, network, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// The insert of `event`, to run in the transaction of the change it describes.
pub fn insert_statement<DB: sqlx::Database>(event: &Event) -> Statement<DB>
where
    String: Bind<DB>,
    Option<String>: Bind<DB>,
    i64: Bind<DB>,
{
    log(event);
    sqlx::query(INSERT)
        .bind(event.at)
        .bind(event.kind.clone())
        .bind(event.outcome.clone())
        .bind(event.actor.kind.as_str().to_owned())
        .bind(event.actor.id.clone())
        .bind(event.actor.name.clone())
        .bind(event.actor.institution.clone())
        .bind(event.actor.role.clone())
        .bind(event.subject.clone())
        .bind(event.institution.clone())
        .bind(event.request_id.clone())
        .bind(event.network.clone())
        .bind(event.detail.clone())
}

/// Records `event` on its own (where no stored change goes with it: a sign-in, a view).
pub async fn record(db: &Db, event: &Event) -> anyhow::Result<()> {
    with_db!(db, pool => insert_statement(event).execute(pool).await.map(|_| ())?);
    Ok(())
}

/// Records events: at once where a stored change goes with it, or soon, in batches, on the
/// hot paths (a silent sign-on hop writes no row of its own: a writer task inserts what
/// gathered in one transaction). A batch not yet written when the process dies is lost; a
/// change is never recorded that way.
#[derive(Clone)]
pub struct Recorder {
    db: Db,
    queue: tokio::sync::mpsc::Sender<Event>,
}

/// Events waiting for the writer at most; past this, `soon` writes at once.
const QUEUE: usize = 10_000;
/// Events written in one transaction at most.
const BATCH: usize = 500;

impl Recorder {
    /// A recorder and its writer task (which ends when every recorder is dropped).
    pub fn start(db: Db) -> (Self, tokio::task::JoinHandle<()>) {
        let (queue, mut waiting) = tokio::sync::mpsc::channel::<Event>(QUEUE);
        let writer_db = db.clone();
        let writer = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while waiting.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = record_all(&writer_db, &batch).await {
                    tracing::error!(error = %format!("{e:#}"), events = batch.len(), "audit events could not be recorded");
                }
                batch.clear();
            }
        });
        (Recorder { db, queue }, writer)
    }

    pub async fn now(&self, event: Event) -> anyhow::Result<()> {
        record(&self.db, &event).await
    }

    /// Queues the event for the writer; a full queue writes it at once instead.
    pub async fn soon(&self, event: Event) {
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(event)) = self.queue.try_send(event)
            && let Err(e) = record(&self.db, &event).await
        {
            tracing::error!(error = %format!("{e:#}"), "an audit event could not be recorded");
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

async fn record_all(db: &Db, events: &[Event]) -> anyhow::Result<()> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for event in events {
            insert_statement(event).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Any of these subjects (empty: all).
    pub subjects: Vec<String>,
    pub kind: Option<String>,
    pub institution: Option<String>,
    /// Unix milliseconds, inclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only views and changes by someone other than the person (the data tracker).
    pub by_others: bool,
    pub limit: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    at: i64,
    kind: String,
    outcome: String,
    actor_kind: String,
    actor_id: Option<String>,
    actor_name: Option<String>,
    actor_institution: Option<String>,
    actor_role: Option<String>,
    subject: Option<String>,
    institution: Option<String>,
    request_id: Option<String>,
    network: Option<String>,
    detail: Option<String>,
}

impl From<Row> for Event {
    fn from(r: Row) -> Self {
        Event {
            at: r.at,
            kind: r.kind,
            outcome: r.outcome,
            actor: Actor {
                kind: ActorKind::parse(&r.actor_kind),
                id: r.actor_id,
                name: r.actor_name,
                institution: r.actor_institution,
                role: r.actor_role,
            },
            subject: r.subject,
            institution: r.institution,
            request_id: r.request_id,
            network: r.network,
            detail: r.detail,
        }
    }
}

/// The events `filter` asks for, newest first.
pub async fn list(db: &Db, filter: &Filter) -> anyhow::Result<Vec<Event>> {
    // Conditions are fixed text with numbered placeholders; values are bound below.
    let mut conditions = vec!["at >= $1".to_owned(), "at <= $2".to_owned()];
    let mut n = 2;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if filter.kind.is_some() {
        conditions.push(format!("kind = {}", next()));
    }
    if filter.institution.is_some() {
        conditions.push(format!(
            "(institution = {0} OR actor_institution = {0})",
            next()
        ));
    }
    if filter.by_others {
        conditions.push("actor_kind <> 'person'".into());
    }
    if !filter.subjects.is_empty() {
        let marks: Vec<String> = filter.subjects.iter().map(|_| next()).collect();
        conditions.push(format!("subject IN ({})", marks.join(", ")));
    }
    let limit = next();
    let sql = format!(
        "SELECT at, kind, outcome, actor_kind, actor_id, actor_name, actor_institution, actor_role, \
         subject, institution, request_id, network, detail FROM audit_events WHERE {} \
         ORDER BY at DESC, id DESC LIMIT {limit}",
        conditions.join(" AND ")
    );
    let rows: Vec<Row> = with_db!(db, pool => {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(filter.since.unwrap_or(0))
            .bind(filter.until.unwrap_or(i64::MAX));
        if let Some(kind) = &filter.kind {
            q = q.bind(kind.clone());
        }
        if let Some(institution) = &filter.institution {
            q = q.bind(institution.clone());
        }
        for subject in &filter.subjects {
            q = q.bind(subject.clone());
        }
        q.bind(filter.limit.max(1)).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(Event::from).collect())
}

/// Deletes the events older than `before` (Unix milliseconds); returns how many.
pub async fn sweep(db: &Db, before: i64) -> anyhow::Result<u64> {
    Ok(
        with_db!(db, pool => sqlx::query("DELETE FROM audit_events WHERE at < $1")
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected()),
    )
}

/// `events`: which events to print (both services' command lines).
#[derive(Debug, Clone, clap::Args)]
pub struct EventsArgs {
    /// Whose events: a node's account id; at the IdP a person (`person:<id>`) or an account
    /// (`<institution>/<account id>`). Several may be given.
    #[arg(long = "subject", alias = "account")]
    pub subjects: Vec<String>,
    /// One kind only (signin.password, data.viewed, profile.changed, …).
    #[arg(long)]
    pub kind: Option<String>,
    /// Where it happened, or the institution that acted.
    #[arg(long)]
    pub institution: Option<String>,
    /// From this time on (2026-12-01 or RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Up to this time.
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: i64,
    /// One JSON object per line (for an export or a SIEM).
    #[arg(long)]
    pub json: bool,
}

impl EventsArgs {
    pub fn filter(&self) -> anyhow::Result<Filter> {
        Ok(Filter {
            subjects: self.subjects.clone(),
            kind: self.kind.clone(),
            institution: self.institution.clone(),
            since: self.since.as_deref().map(parse_time).transpose()?,
            until: self.until.as_deref().map(parse_time).transpose()?,
            by_others: false,
            limit: self.limit,
        })
    }

    /// Reads and prints the events (newest first).
    pub async fn print(&self, db: &Db) -> anyhow::Result<()> {
        let events = list(db, &self.filter()?).await?;
        print!("{}", render(&events, self.json));
        Ok(())
    }
}

/// A time given on the command line: RFC 3339 (`2026-12-01T00:00:00Z`) or a date
/// (`2026-12-01`, midnight UTC); Unix milliseconds.
pub fn parse_time(text: &str) -> anyhow::Result<i64> {
    use time::format_description::well_known::Rfc3339;
    let at = match time::OffsetDateTime::parse(text, &Rfc3339) {
        Ok(at) => at,
        Err(_) => time::Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| anyhow::anyhow!("not a time (2026-12-01 or 2026-12-01T08:00:00Z): {text}"))?
        .midnight()
        .assume_utc(),
    };
    Ok(i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
}

/// Events as the `events` commands print them: one JSON object per line, or a line of text
/// each (time in UTC, kind, outcome, subject, actor, institution, network, request id).
pub fn render(events: &[Event], json: bool) -> String {
    let mut out = String::new();
    for e in events {
        if json {
            out.push_str(&serde_json::to_string(e).unwrap_or_default());
        } else {
            let at = time::OffsetDateTime::from_unix_timestamp(e.at.div_euclid(1_000))
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            let actor = [
                Some(e.actor.kind.as_str()),
                e.actor.name.as_deref(),
                e.actor.role.as_deref(),
                e.actor.institution.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/");
            let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "{at} {} {} subject={} actor={actor} institution={} network={} request={}{}",
                e.kind,
                e.outcome,
                dash(&e.subject),
                dash(&e.institution),
                dash(&e.network),
                dash(&e.request_id),
                e.detail
                    .as_deref()
                    .map(|d| format!(" detail={d}"))
                    .unwrap_or_default(),
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `audit_log` each event is one JSON line on the log target `audit`.
    #[test]
    fn the_audit_log_writes_each_event_as_json_on_its_target() {
        #[derive(Clone, Default)]
        struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_env_filter("off,audit=info")
            .json()
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let event = Event::new(kind::DATA_VIEWED, Actor::of(ActorKind::Admin)).subject("a1");
            log_events(false);
            log(&event);
            log_events(true);
            log(&event);
            log_events(false);
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let written: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(written.len(), 1, "only while on: {text}");
        assert_eq!(written[0]["target"], "audit");
        let event: Event =
            serde_json::from_str(written[0]["fields"]["event"].as_str().unwrap()).unwrap();
        assert_eq!(event.kind, kind::DATA_VIEWED);
        assert_eq!(event.subject.as_deref(), Some("a1"));
    }

    #[test]
    fn command_line_times() {
        assert_eq!(parse_time("2026-12-01").unwrap(), 1_796_083_200_000);
        assert_eq!(
            parse_time("2026-12-01T02:00:00+02:00").unwrap(),
            1_796_083_200_000
        );
        assert!(parse_time("eile").is_err());
    }

    #[test]
    fn a_network_is_recorded_not_an_address() {
        assert_eq!(network_of("192.0.2.77".parse().unwrap()), "192.0.2.0/24");
        assert_eq!(
            network_of("2001:db8:aa:bb:cc::1".parse().unwrap()),
            "2001:db8:aa::/48"
        );
    }
}
