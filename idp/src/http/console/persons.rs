//! Persons (search by name or personal code; one person's links, sessions and events; remove
//! a link; end the sessions) and the events log with its filter. Help desk and operators.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use shared::audit::{Event, Filter};

use super::{Done, Frame, Operator, encode};
use crate::error::{AppError, PageResult};
use crate::http::extract::{ButtonOnly, CleanQuery, VerifiedForm};
use crate::http::{redirect_no_store, render};
use crate::i18n::Texts;
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SearchQuery {
    q: String,
    done: Option<String>,
}

pub struct Found {
    id: String,
    name: String,
    code: String,
    institutions: String,
}

#[derive(Template)]
#[template(path = "console/persons.html")]
struct PersonsPage {
    t: &'static Texts,
    f: Frame,
    q: String,
    found: Vec<Found>,
    searched: bool,
    done: Option<&'static str>,
}

pub async fn search(
    State(state): State<AppState>,
    op: Operator,
    CleanQuery(query): CleanQuery<SearchQuery>,
) -> PageResult {
    let found = state
        .operations
        .search_persons(&query.q, &op.session)
        .await?
        .into_iter()
        .map(|p| Found {
            id: p.person.id.clone(),
            name: format!("{} {}", p.person.first_name, p.person.last_name),
            code: p
                .person
                .personal_code
                .as_ref()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            institutions: p.institutions.join(", "),
        })
        .collect();
    let page = PersonsPage {
        t: op.t,
        f: op.frame(op.t.console.persons),
        searched: query.q.trim().chars().count() >= 2,
        done: (query.done.as_deref() == Some("unlinked")).then_some(op.t.console.link_removed),
        q: query.q,
        found,
    };
    render(StatusCode::OK, &page)
}

pub struct LinkLine {
    node_id: String,
    institution: String,
    sub: String,
    since: String,
}

pub struct SessionLine {
    sid: String,
    started: String,
    last_used: String,
    institutions: String,
    network: String,
}

pub struct EventLine {
    when: String,
    kind: String,
    outcome: String,
    who: String,
    subject: String,
    institution: String,
    detail: String,
}

fn event_line(e: Event) -> EventLine {
    let who = match (&e.actor.name, &e.actor.id) {
        (Some(name), _) if !name.is_empty() => format!("{} ({})", name, e.actor.kind.as_str()),
        (_, Some(id)) => format!("{id} ({})", e.actor.kind.as_str()),
        _ => e.actor.kind.as_str().to_owned(),
    };
    EventLine {
        when: shared::clock::tallinn_time(e.at),
        kind: e.kind,
        outcome: e.outcome,
        who,
        subject: e.subject.unwrap_or_default(),
        institution: e.institution.unwrap_or_default(),
        detail: e.detail.unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "console/person.html")]
struct PersonPage {
    t: &'static Texts,
    f: Frame,
    id: String,
    name: String,
    code: String,
    links: Vec<LinkLine>,
    sessions: Vec<SessionLine>,
    events: Vec<EventLine>,
    done: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    CleanQuery(done): CleanQuery<Done>,
) -> PageResult {
    let view = state
        .operations
        .person(&id, &op.session)
        .await?
        .ok_or_else(|| AppError::not_found().in_lang(op.t))?;
    let name_of = |client_id: &str| {
        state
            .clients
            .get_even_disabled(client_id)
            .map_or_else(|| client_id.to_owned(), |c| c.name.clone())
    };
    let page = PersonPage {
        t: op.t,
        f: op.frame(op.t.console.person_title),
        name: format!("{} {}", view.person.first_name, view.person.last_name),
        code: view
            .person
            .personal_code
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        links: view
            .links
            .into_iter()
            .map(|(l, institution)| LinkLine {
                since: shared::clock::tallinn_time(l.linked_at),
                node_id: l.node_id,
                institution,
                sub: l.sub,
            })
            .collect(),
        sessions: view
            .sessions
            .iter()
            .map(|s| SessionLine {
                sid: s.sid.as_str().to_owned(),
                started: super::when(s.created_at),
                last_used: super::when(s.last_seen.max(s.created_at)),
                institutions: s
                    .accounts
                    .keys()
                    .map(|node| name_of(node.as_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
                network: s.network.clone().unwrap_or_default(),
            })
            .collect(),
        events: view.events.into_iter().map(event_line).collect(),
        done: match done.done.as_deref() {
            Some("unlinked") => Some(op.t.console.link_removed.to_owned()),
            Some("ended") => Some(format!(
                "{} {}",
                op.t.console.sessions_ended,
                done.n.unwrap_or(0)
            )),
            _ => None,
        },
        id: view.person.id,
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UnlinkForm {
    node_id: String,
}

pub async fn unlink(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<UnlinkForm>,
) -> PageResult {
    match state
        .operations
        .remove_link(&id, &form.node_id, &op.session)
        .await?
    {
        None => Err(AppError::not_found().in_lang(op.t)),
        Some(true) => Ok(redirect_no_store(&format!(
            "/admin/persons/{}?done=unlinked",
            encode(&id)
        ))),
        // Their last link: one account is no person of the federation's any more.
        Some(false) => Ok(redirect_no_store("/admin/persons?done=unlinked")),
    }
}

pub async fn end_sessions(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    VerifiedForm(_): VerifiedForm<ButtonOnly>,
) -> PageResult {
    let ended = state.operations.end_sessions(&id, &op.session).await?;
    Ok(redirect_no_store(&format!(
        "/admin/persons/{}?done=ended&n={ended}",
        encode(&id)
    )))
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct EventsQuery {
    person: String,
    institution: String,
    kind: String,
    since: String,
    until: String,
}

#[derive(Template)]
#[template(path = "console/events.html")]
struct EventsPage {
    t: &'static Texts,
    f: Frame,
    q: EventsQuery,
    events: Vec<EventLine>,
    problem: bool,
}

/// Start of a day (`YYYY-MM-DD`, Tallinn time is near enough for a filter: UTC midnight).
fn day_millis(text: &str, end_of_day: bool) -> Result<Option<i64>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).map_err(|_| ())?;
    let start = date.midnight().assume_utc().unix_timestamp() * 1000;
    Ok(Some(if end_of_day {
        start + 86_400_000 - 1
    } else {
        start
    }))
}

pub async fn events(
    State(state): State<AppState>,
    op: Operator,
    CleanQuery(q): CleanQuery<EventsQuery>,
) -> PageResult {
    let (since, until) = match (day_millis(&q.since, false), day_millis(&q.until, true)) {
        (Ok(since), Ok(until)) => (since, until),
        _ => {
            let page = EventsPage {
                t: op.t,
                f: op.frame(op.t.console.events),
                q,
                events: Vec::new(),
                problem: true,
            };
            return render(StatusCode::BAD_REQUEST, &page);
        }
    };
    let mut filter = Filter {
        kind: super::optional(&q.kind),
        institution: super::optional(&q.institution),
        since,
        until,
        limit: 500,
        ..Filter::default()
    };
    let mut nobody = false;
    if let Some(code) = super::optional(&q.person) {
        filter.subjects = state.operations.subjects_of_code(&code).await?;
        nobody = filter.subjects.is_empty();
    }
    let events = if nobody {
        Vec::new()
    } else {
        state.operations.events(&filter).await?
    };
    let page = EventsPage {
        t: op.t,
        f: op.frame(op.t.console.events),
        q,
        events: events.into_iter().map(event_line).collect(),
        problem: false,
    };
    render(StatusCode::OK, &page)
}
