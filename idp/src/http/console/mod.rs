//! The operators' console at `/admin` (`service::console`): sign-in with eID only, an
//! `Operator` extractor that every page takes (no session: to the sign-in page; the wrong
//! role: 403), forms with the browser's CSRF token (`VerifiedForm`), and the pages of each
//! part in its own module. No page needs a script.

mod enrolment;
mod institutions;
mod persons;
mod state_pages;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use crate::error::{AppError, PageResult};
use crate::http::extract::{Browser, ButtonOnly, VerifiedForm};
use crate::http::{MessagePage, redirect_no_store, render};
use crate::i18n::{self, Texts};
use crate::service::console::{ConsoleRefusal, ConsoleSession, Role};
use crate::service::upstream::EidPerson;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(overview))
        .route("/admin/signin", get(signin_page))
        .route("/admin/signin/{upstream}", get(signin_start))
        .route("/admin/signout", post(signout))
        .route("/admin/institutions", get(institutions::list))
        .route(
            "/admin/institutions/new",
            get(institutions::new_form).post(institutions::add),
        )
        .route(
            "/admin/institutions/{id}",
            get(institutions::show).post(institutions::edit),
        )
        .route(
            "/admin/institutions/{id}/disable",
            post(institutions::disable),
        )
        .route(
            "/admin/institutions/{id}/enable",
            post(institutions::enable),
        )
        .route(
            "/admin/institutions/{id}/secret",
            post(institutions::new_secret),
        )
        .route(
            "/admin/enrolment",
            get(enrolment::show).post(enrolment::make_token),
        )
        .route("/admin/keys", get(state_pages::keys))
        .route("/admin/keys/rotate", post(state_pages::rotate))
        .route("/admin/outbox", get(state_pages::outbox))
        .route("/admin/outbox/{id}", post(state_pages::settle))
        .route("/admin/persons", get(persons::search))
        .route("/admin/persons/{id}", get(persons::show))
        .route("/admin/persons/{id}/unlink", post(persons::unlink))
        .route(
            "/admin/persons/{id}/end-sessions",
            post(persons::end_sessions),
        )
        .route("/admin/events", get(persons::events))
}

/// The console's cookie: `__Host-` under https, so no other host of the domain can plant one;
/// SameSite=Lax, not Strict: the way in is a redirect chain from the eID upstream, and a
/// Strict cookie set there is not sent on its last step (forms carry a CSRF token anyway).
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-idp_console"
    } else {
        "idp_console"
    }
}

fn secure(state: &AppState) -> bool {
    state.config.issuer.starts_with("https://")
}

fn console_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((cookie_name(secure(state)), value))
        .path("/")
        .http_only(true)
        .secure(secure(state))
        .same_site(SameSite::Lax)
        .build()
}

/// The console cookie's value, when the browser sent one.
pub fn console_cookie_value(state: &AppState, headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(cookie_name(secure(state)))
        .map(|c| c.value().to_owned())
}

/// A signed-in operator: what every console page takes first.
pub struct Operator {
    pub session: ConsoleSession,
    pub t: &'static Texts,
    pub csrf: String,
    pub cookie: String,
}

impl Operator {
    /// 403 unless the operator's role is at least `needed`.
    pub fn require(&self, needed: Role) -> Result<(), AppError> {
        if self.session.may(needed) {
            Ok(())
        } else {
            Err(
                AppError::new(StatusCode::FORBIDDEN, |t| t.console.forbidden)
                    .titled(|t| t.console.refused_title)
                    .in_lang(self.t),
            )
        }
    }

    /// What the console's frame shows of the operator.
    pub fn frame(&self, title: &'static str) -> Frame {
        Frame {
            t: self.t,
            title,
            name: self.session.name.clone(),
            role: match self.session.role {
                Role::Operator => self.t.console.role_operator,
                Role::Helpdesk => self.t.console.role_helpdesk,
            },
            operator: self.session.may(Role::Operator),
            csrf: self.csrf.clone(),
        }
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let t = i18n::texts(&parts.headers, None);
        let browser = Browser::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let to_signin = || redirect_no_store("/admin/signin");
        let Some(cookie) = console_cookie_value(state, &parts.headers) else {
            return Err(to_signin());
        };
        match state.console.session(&cookie, &browser.binding()).await {
            Ok(Some(session)) => Ok(Operator {
                session,
                t,
                csrf: browser.csrf_token(),
                cookie,
            }),
            Ok(None) => Err(to_signin()),
            Err(e) => Err(AppError::internal(e).in_lang(t).into_response()),
        }
    }
}

/// The console's frame around each page: its title, the operator, the menu.
pub struct Frame {
    pub t: &'static Texts,
    pub title: &'static str,
    pub name: String,
    pub role: &'static str,
    /// Whether the operator's parts of the menu are shown (a help desk does not see them).
    pub operator: bool,
    pub csrf: String,
}

/// Where a form leaves a message on the page it returns to (`?done=`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Done {
    pub done: Option<String>,
    pub n: Option<i64>,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    t: &'static Texts,
    f: Frame,
    institutions: i64,
    dead_letters: usize,
    open_tokens: usize,
}

async fn overview(State(state): State<AppState>, op: Operator) -> PageResult {
    let institutions = state.institutions.list("", 0).await?.total;
    let (dead_letters, open_tokens) = if op.session.may(Role::Operator) {
        (
            state.operations.dead_letters().await?.len(),
            state.enrolment.open().await?.len(),
        )
    } else {
        (0, 0)
    };
    render(
        StatusCode::OK,
        &OverviewPage {
            t: op.t,
            f: op.frame(op.t.console.overview),
            institutions,
            dead_letters,
            open_tokens,
        },
    )
}

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SigninPage {
    t: &'static Texts,
    upstreams: Vec<(String, String)>,
}

async fn signin_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let t = i18n::texts(&headers, None);
    let upstreams = state
        .upstreams
        .all()
        .iter()
        .map(|u| (u.config.id.clone(), u.label(t.lang).to_owned()))
        .collect();
    render(StatusCode::OK, &SigninPage { t, upstreams })
}

async fn signin_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    Path(upstream): Path<String>,
) -> PageResult {
    let t = i18n::texts(&headers, None);
    match state
        .eid
        .start_console(&upstream, &browser.binding(), t.lang)
        .await
    {
        Ok(url) => Ok(redirect_no_store(&url)),
        Err(crate::service::eid::EidStop::UnknownUpstream) => Err(AppError::not_found().in_lang(t)),
        Err(e) => Err(
            AppError::new(StatusCode::BAD_GATEWAY, |t| t.eid_unavailable)
                .caused_by(format!("{e:?}"))
                .in_lang(t),
        ),
    }
}

/// The eID upstream proved a person who set out to open the console (`pages::eid`).
pub async fn signed_in(
    state: &AppState,
    t: &'static Texts,
    person: &EidPerson,
    browser: &Browser,
) -> PageResult {
    match state.console.sign_in(person, &browser.binding()).await? {
        Ok(cookie) => {
            let jar = CookieJar::new().add(console_cookie(state, cookie));
            Ok((jar, redirect_no_store("/admin")).into_response())
        }
        Err(refusal) => {
            let message = match refusal {
                ConsoleRefusal::NotOperator => t.console.not_operator,
                ConsoleRefusal::WeakAssurance => t.console.weak_assurance,
            };
            render(
                StatusCode::FORBIDDEN,
                &MessagePage {
                    t,
                    title: t.console.refused_title,
                    message,
                    detail: None,
                    is_error: true,
                    request_id: None,
                    retry: Some("/admin/signin"),
                },
            )
        }
    }
}

async fn signout(
    State(state): State<AppState>,
    op: Operator,
    VerifiedForm(_): VerifiedForm<ButtonOnly>,
) -> PageResult {
    state.console.end(&op.cookie).await?;
    let gone = Cookie::build((cookie_name(secure(&state)), ""))
        .path("/")
        .build();
    Ok((
        CookieJar::new().remove(gone),
        redirect_no_store("/admin/signin"),
    )
        .into_response())
}

/// Lines of a textarea, trimmed, the empty ones left out.
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An optional text field: None when left empty.
pub fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A time for people: Tallinn's date and time of Unix seconds.
pub fn when(seconds: i64) -> String {
    shared::clock::tallinn_time(seconds.saturating_mul(1000))
}

/// A value for a URL's query or path.
pub fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
