//! "Minu andmed" (`service::my_data`): the person's linked institutions, sessions, sign-ins and
//! data tracker, the actions on them (each a form with the browser's CSRF token), and the
//! download of everything as JSON.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::audit::{ActorKind, Event, kind};

use crate::error::{AppError, PageResult};
use crate::http::extract::{Browser, ButtonOnly, CleanQuery, SessionCookie, VerifiedForm};
use crate::http::{MessagePage, redirect_no_store, render};
use crate::i18n::{self, Texts};
use crate::service::my_data::{MyDataError, Overview};
use crate::state::AppState;

struct AccountLine {
    node_id: String,
    institution: String,
    logo_url: Option<String>,
    since: Option<String>,
}

struct SessionLine {
    sid: String,
    browser: String,
    network: String,
    started: String,
    last_used: String,
    institutions: Vec<(String, String)>,
    current: bool,
}

struct EventLine {
    when: String,
    institution: String,
    what: String,
    network: String,
    kind: String,
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage {
    t: &'static Texts,
    csrf: String,
    accounts: Vec<AccountLine>,
    sessions: Vec<SessionLine>,
    activity: Vec<EventLine>,
    tracker: Vec<EventLine>,
    unavailable: Vec<String>,
    done: bool,
}

#[derive(Template)]
#[template(path = "me_remove_link.html")]
struct RemoveLinkPage {
    t: &'static Texts,
    csrf: String,
    client_id: String,
    institution: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MeQuery {
    ui_locales: Option<String>,
    done: Option<String>,
    client_id: String,
}

fn refused(t: &'static Texts, e: MyDataError) -> PageResult {
    match e {
        MyDataError::NotSignedIn => render(
            StatusCode::UNAUTHORIZED,
            &MessagePage {
                t,
                title: t.me_title,
                message: t.me_not_signed_in,
                detail: None,
                is_error: false,
                request_id: None,
                retry: None,
            },
        ),
        MyDataError::NotFound => Err(AppError::not_found().in_lang(t)),
        MyDataError::Internal(e) => Err(AppError::internal(e).in_lang(t)),
    }
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    CleanQuery(q): CleanQuery<MeQuery>,
) -> PageResult {
    let t = i18n::texts(&headers, q.ui_locales.as_deref());
    let overview = match state.my_data.overview(cookie.as_deref()).await {
        Ok(o) => o,
        Err(e) => return refused(t, e),
    };
    render(
        StatusCode::OK,
        &page(t, browser.csrf_token(), overview, q.done.is_some()),
    )
}

fn page(t: &'static Texts, csrf: String, o: Overview, done: bool) -> MePage {
    let own: Vec<String> = o.accounts.iter().map(|a| a.sub.clone()).collect();
    MePage {
        t,
        csrf,
        done,
        accounts: o
            .accounts
            .iter()
            .map(|a| AccountLine {
                node_id: a.node_id.clone(),
                institution: a.institution.clone(),
                logo_url: a.logo_url.clone(),
                since: a.linked_at.map(shared::clock::tallinn_time),
            })
            .collect(),
        sessions: o
            .sessions
            .into_iter()
            .map(|s| SessionLine {
                browser: s.user_agent.as_deref().map(browser_of).unwrap_or_default(),
                network: s.network.unwrap_or_default(),
                started: shared::clock::tallinn_time(s.started),
                last_used: shared::clock::tallinn_time(s.last_used),
                sid: s.sid,
                institutions: s.institutions,
                current: s.current,
            })
            .collect(),
        activity: o
            .activity
            .iter()
            .map(|e| EventLine {
                when: shared::clock::tallinn_time(e.at),
                institution: institution_of(&o.accounts, e),
                what: method(t, e),
                network: e.network.clone().unwrap_or_default(),
                kind: e.kind.clone(),
            })
            .collect(),
        tracker: o
            .tracker
            .iter()
            .map(|tracked| EventLine {
                when: shared::clock::tallinn_time(tracked.event.at),
                institution: if tracked.institution_name.is_empty() {
                    t.federation.to_owned()
                } else {
                    tracked.institution_name.clone()
                },
                what: sentence(t, &tracked.event, &own),
                network: String::new(),
                kind: tracked.event.kind.clone(),
            })
            .collect(),
        unavailable: o.unavailable,
    }
}

fn institution_of(accounts: &[crate::service::my_data::AccountView], e: &Event) -> String {
    let id = e.institution.as_deref().unwrap_or("");
    accounts
        .iter()
        .find(|a| a.node_id == id)
        .map_or_else(|| id.to_owned(), |a| a.institution.clone())
}

fn method(t: &Texts, e: &Event) -> String {
    let how = match e.kind.as_str() {
        kind::SIGNIN_PASSWORD => t.me_method_password,
        kind::SIGNIN_EID => t.me_method_eid,
        _ => t.me_method_hop,
    };
    if e.outcome == "ok" {
        how.to_owned()
    } else {
        format!("{how} ✗")
    }
}

/// "Anne Direktor (administraator) vaatas sinu andmeid", "Laagri Huvialakool (andmete
/// ühtlustamine) muutis: phone".
fn sentence(t: &Texts, e: &Event, own: &[String]) -> String {
    let a = &e.actor;
    let who = a
        .name
        .clone()
        .or_else(|| a.institution.clone())
        .unwrap_or_else(|| t.me_someone.to_owned());
    let role = match a.role.as_deref() {
        Some("admin") => Some(t.me_role_admin),
        Some("parent") => Some(t.me_role_parent),
        Some("sync") => Some(t.me_role_sync),
        Some("linking") => Some(t.me_role_linking),
        Some("operator") => Some(t.console.role_operator),
        Some("helpdesk") => Some(t.console.role_helpdesk),
        _ => None,
    };
    let who = match (role, a.kind) {
        (_, ActorKind::Person) if a.id.as_ref().is_some_and(|id| own.contains(id)) => who,
        (Some(role), _) => format!("{who} ({role})"),
        (None, _) => who,
    };
    let verb = match e.kind.as_str() {
        kind::DATA_VIEWED => t.me_viewed.to_owned(),
        kind::DATA_READ => t.me_read.to_owned(),
        kind::PROFILE_CHANGED => format!(
            "{}: {}",
            t.me_changed,
            e.detail.as_deref().unwrap_or("").replace(',', ", ")
        ),
        kind::PASSWORD_SET | kind::PASSWORD_TEMPORARY => t.me_set_password.to_owned(),
        kind::ACCOUNT_CREATED => t.me_created.to_owned(),
        kind::ACCOUNT_CLOSED => t.me_closed.to_owned(),
        kind::ACCOUNT_REOPENED => t.me_reopened.to_owned(),
        kind::SIGNOUT => t.me_signed_out.to_owned(),
        kind::UNLINK => t.me_unlinked.to_owned(),
        other => other.to_owned(),
    };
    format!("{who} {verb}")
}

/// "Firefox, Linux" from a User-Agent: enough for a person to tell their devices apart.
fn browser_of(ua: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ]
    .into_iter()
    .find(|(mark, _)| ua.contains(mark))
    .map(|(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(mark, _)| ua.contains(mark))
    .map(|(_, name)| name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b}, {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => s.to_owned(),
        (None, None) => ua.chars().take(40).collect(),
    }
}

#[derive(Deserialize)]
pub struct SessionForm {
    sid: String,
    #[serde(default)]
    client_id: String,
}

fn back(state: Result<(), MyDataError>, t: &'static Texts) -> PageResult {
    match state {
        Ok(()) => Ok(redirect_no_store(&format!(
            "/me?done=1&ui_locales={}",
            t.lang
        ))),
        Err(e) => refused(t, e),
    }
}

/// "Lõpeta see seanss".
pub async fn end_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    cookie: SessionCookie,
    VerifiedForm(form): VerifiedForm<SessionForm>,
) -> PageResult {
    let t = i18n::texts(&headers, None);
    back(
        state
            .my_data
            .end_session(cookie.as_deref(), &form.sid)
            .await,
        t,
    )
}

/// "Logi välja" at one institution of one session.
pub async fn leave(
    State(state): State<AppState>,
    headers: HeaderMap,
    cookie: SessionCookie,
    VerifiedForm(form): VerifiedForm<SessionForm>,
) -> PageResult {
    let t = i18n::texts(&headers, None);
    back(
        state
            .my_data
            .leave(cookie.as_deref(), &form.sid, &form.client_id)
            .await,
        t,
    )
}

/// "Logi välja kõikjalt".
pub async fn end_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    cookie: SessionCookie,
    VerifiedForm(_): VerifiedForm<ButtonOnly>,
) -> PageResult {
    let t = i18n::texts(&headers, None);
    back(
        state.my_data.end_all(cookie.as_deref()).await.map(|_| ()),
        t,
    )
}

/// Asks before a link is removed.
pub async fn confirm_remove_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    CleanQuery(q): CleanQuery<MeQuery>,
) -> PageResult {
    let t = i18n::texts(&headers, q.ui_locales.as_deref());
    // The question reads the person's links only, not their whole page (no school is asked).
    let institution = match state
        .my_data
        .linked_institution(cookie.as_deref(), &q.client_id)
        .await
    {
        Ok(name) => name,
        Err(e) => return refused(t, e),
    };
    render(
        StatusCode::OK,
        &RemoveLinkPage {
            t,
            csrf: browser.csrf_token(),
            client_id: q.client_id,
            institution,
        },
    )
}

#[derive(Deserialize)]
pub struct LinkForm {
    client_id: String,
}

pub async fn remove_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    cookie: SessionCookie,
    VerifiedForm(form): VerifiedForm<LinkForm>,
) -> PageResult {
    let t = i18n::texts(&headers, None);
    back(
        state
            .my_data
            .remove_link(cookie.as_deref(), &form.client_id)
            .await,
        t,
    )
}

/// "Laadi alla": everything as one JSON file (GDPR articles 15 and 20).
pub async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    cookie: SessionCookie,
) -> PageResult<Response> {
    let t = i18n::texts(&headers, None);
    match state.my_data.download(cookie.as_deref()).await {
        Ok(data) => {
            let body = serde_json::to_vec_pretty(&data).map_err(AppError::internal)?;
            let mut response = (StatusCode::OK, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"minu-andmed.json\""),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Err(e) => refused(t, e),
    }
}
