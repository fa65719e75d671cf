//! The sign-in page, branded with the requesting institution. The password is checked by that
//! institution's node (`service::signin`); the IdP never stores one.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use shared::Secret;

use super::continue_to;
use crate::error::{AppError, PageResult};
use crate::http::extract::{Browser, CleanQuery, ClientAddr, SessionCookie, VerifiedForm};
use crate::http::{redirect_no_store, render};
use crate::i18n::{self, Texts};
use crate::service::new_password::NewPasswordRefusal;
use crate::service::signin::{LoginView, PasswordRefusal, PasswordResult, SignInError};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    t: &'static Texts,
    institution: &'a str,
    logo_url: Option<&'a str>,
    node_url: Option<&'a str>,
    request_id: &'a str,
    csrf: &'a str,
    username: &'a str,
    message: Option<&'a str>,
    notice: Option<&'a str>,
    /// eID buttons: (upstream id, label).
    eid: Vec<(&'a str, &'a str)>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginQuery {
    r: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    r: String,
    username: String,
    password: String,
}

struct Shown<'a> {
    username: &'a str,
    message: Option<&'a str>,
    notice: Option<&'a str>,
}

fn page(
    state: &AppState,
    t: &'static Texts,
    browser: &Browser,
    view: &LoginView,
    id: &str,
    shown: Shown<'_>,
    status: StatusCode,
) -> PageResult {
    let client = &view.institution;
    let csrf = browser.csrf_token();
    let page = LoginPage {
        t,
        institution: &client.name,
        logo_url: client.logo_url.as_deref(),
        node_url: client
            .federation_url
            .as_deref()
            .map(|u| u.trim_end_matches('/')),
        request_id: id,
        csrf: &csrf,
        username: shown.username,
        message: shown.message,
        notice: shown.notice,
        eid: state
            .upstreams
            .all()
            .iter()
            .map(|u| (u.config.id.as_str(), u.label(t.lang)))
            .collect(),
    };
    render(status, &page)
}

/// A sign-in step that cannot go on, as a page.
pub fn refused(e: SignInError) -> AppError {
    match e {
        SignInError::Expired => AppError::request_expired(),
        SignInError::OtherBrowser => AppError::other_browser(),
        SignInError::UnknownClient => AppError::unknown_client(),
        SignInError::Internal(e) => AppError::internal(e),
    }
}

pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    CleanQuery(query): CleanQuery<LoginQuery>,
) -> PageResult {
    let view = state
        .signin
        .view(&query.r, cookie.as_deref())
        .await
        .map_err(refused)?;
    let t = i18n::texts(&headers, view.pending.ui_locales());
    let hint = view.pending.login_hint().unwrap_or_default().to_owned();
    let shown = Shown {
        username: &hint,
        message: None,
        notice: view.signed_in_elsewhere.then_some(t.not_linked_here),
    };
    page(&state, t, &browser, &view, &query.r, shown, StatusCode::OK)
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    ClientAddr(ip): ClientAddr,
    VerifiedForm(form): VerifiedForm<LoginForm>,
) -> PageResult<Response> {
    let outcome = state
        .signin
        .with_password(
            &form.r,
            &form.username,
            Secret::new(form.password),
            ip,
            cookie.as_deref(),
            &browser.binding(),
        )
        .await
        .map_err(refused)?;
    let (view, refusal) = match outcome {
        PasswordResult::Continue(next) => return Ok(continue_to(&state, next)),
        PasswordResult::NewPasswordFirst(location) => return Ok(redirect_no_store(&location)),
        PasswordResult::Refused(view, refusal) => (view, refusal),
    };
    let t = i18n::texts(&headers, view.pending.ui_locales());
    let (message, status) = match refusal {
        PasswordRefusal::Invalid => (t.invalid_credentials, StatusCode::UNAUTHORIZED),
        PasswordRefusal::Ambiguous => (t.ambiguous_name, StatusCode::UNAUTHORIZED),
        PasswordRefusal::Throttled => (t.throttled, StatusCode::TOO_MANY_REQUESTS),
        PasswordRefusal::Unavailable => (t.node_unavailable, StatusCode::BAD_GATEWAY),
    };
    let shown = Shown {
        username: &form.username,
        message: Some(message),
        notice: None,
    };
    page(&state, t, &browser, &view, &form.r, shown, status)
}

#[derive(Template)]
#[template(path = "login_password.html")]
struct NewPasswordPage<'a> {
    t: &'static Texts,
    institution: &'a str,
    logo_url: Option<&'a str>,
    id: &'a str,
    csrf: &'a str,
    message: Option<&'a str>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewPasswordQuery {
    c: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewPasswordForm {
    c: String,
    password: String,
    password_again: String,
}

fn new_password_page(
    t: &'static Texts,
    browser: &Browser,
    institution: &crate::service::clients::Client,
    id: &str,
    message: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let csrf = browser.csrf_token();
    let page = NewPasswordPage {
        t,
        institution: &institution.name,
        logo_url: institution.logo_url.as_deref(),
        id,
        csrf: &csrf,
        message,
    };
    render(status, &page)
}

/// After a temporary password: the page that asks for a new one.
pub async fn new_password_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    CleanQuery(query): CleanQuery<NewPasswordQuery>,
) -> PageResult {
    let t = i18n::texts(&headers, None);
    let institution = state
        .signin
        .new_password_view(&query.c, &browser.binding())
        .await
        .map_err(refused)?;
    new_password_page(t, &browser, &institution, &query.c, None, StatusCode::OK)
}

pub async fn new_password_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    VerifiedForm(form): VerifiedForm<NewPasswordForm>,
) -> PageResult<Response> {
    let t = i18n::texts(&headers, None);
    let outcome = state
        .signin
        .choose_password(
            &form.c,
            Secret::new(form.password),
            &Secret::new(form.password_again),
            cookie.as_deref(),
            &browser.binding(),
        )
        .await
        .map_err(refused)?;
    let (institution, refusal) = match outcome {
        Ok(next) => return Ok(continue_to(&state, next)),
        Err(refused) => refused,
    };
    let (message, status) = match refusal {
        NewPasswordRefusal::Problem(shared::secret::PasswordProblem::TooShort) => {
            (t.password_too_short, StatusCode::UNPROCESSABLE_ENTITY)
        }
        NewPasswordRefusal::Problem(shared::secret::PasswordProblem::Mismatch) => {
            (t.passwords_differ, StatusCode::UNPROCESSABLE_ENTITY)
        }
        NewPasswordRefusal::Unavailable => (t.node_unavailable, StatusCode::BAD_GATEWAY),
    };
    new_password_page(t, &browser, &institution, &form.c, Some(message), status)
}
