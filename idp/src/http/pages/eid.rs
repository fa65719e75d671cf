//! Sign-in with ID-card or Smart-ID (`service::eid`): the button on the sign-in page, and the
//! upstream's answer.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::continue_to;
use crate::error::{AppError, PageResult};
use crate::http::extract::{Browser, CleanQuery, SessionCookie};
use crate::http::{redirect_no_store, render};
use crate::i18n::{self, Texts};
use crate::service::eid::{Callback, EidDone, EidStop};
use crate::service::upstream::Refusal;
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StartQuery {
    r: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

#[derive(Template)]
#[template(path = "eid_unknown.html")]
struct UnknownPage<'a> {
    t: &'static Texts,
    institution: &'a str,
    node_url: Option<&'a str>,
    request_id: &'a str,
}

fn failed(status: StatusCode, message: crate::error::Words) -> AppError {
    AppError::new(status, message).titled(|t| t.eid_failed_title)
}

/// An eID step that did not go on, as a page (the page of the unknown code has its own).
fn stopped(t: &'static Texts, stop: EidStop) -> PageResult {
    let error = match stop {
        EidStop::UnknownUpstream => AppError::not_found(),
        EidStop::Expired => AppError::request_expired(),
        EidStop::OtherBrowser => AppError::other_browser(),
        EidStop::UnknownClient => AppError::unknown_client(),
        EidStop::WrongState => failed(StatusCode::BAD_REQUEST, |t| t.eid_state),
        EidStop::Malformed => failed(StatusCode::BAD_REQUEST, |t| t.eid_invalid),
        EidStop::NodeUnavailable => failed(StatusCode::BAD_GATEWAY, |t| t.node_unavailable),
        EidStop::Refused(refusal) => match refusal {
            Refusal::Cancelled => failed(StatusCode::UNAUTHORIZED, |t| t.eid_cancelled),
            Refusal::WrongMethod(_) => failed(StatusCode::UNAUTHORIZED, |t| t.eid_wrong_method),
            Refusal::NoPersonalCode(_) => failed(StatusCode::UNAUTHORIZED, |t| t.eid_no_code),
            Refusal::Unavailable(_) => failed(StatusCode::BAD_GATEWAY, |t| t.eid_unavailable),
            Refusal::UpstreamError(_) | Refusal::InvalidToken(_) => {
                failed(StatusCode::UNAUTHORIZED, |t| t.eid_invalid)
            }
        }
        .caused_by(refusal),
        EidStop::NoAccount {
            institution,
            node_url,
            login,
        } => {
            let page = UnknownPage {
                t,
                institution: &institution,
                node_url: node_url.as_deref().map(|u| u.trim_end_matches('/')),
                request_id: &login,
            };
            return render(StatusCode::NOT_FOUND, &page);
        }
        EidStop::Internal(e) => AppError::internal(e),
    };
    Err(error.in_lang(t))
}

pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    Path(id): Path<String>,
    CleanQuery(q): CleanQuery<StartQuery>,
) -> PageResult {
    let t = i18n::texts(&headers, None);
    match state.eid.start(&id, &q.r, &browser.binding(), t.lang).await {
        Ok(url) => Ok(redirect_no_store(&url)),
        Err(stop) => stopped(t, stop),
    }
}

pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    Path(id): Path<String>,
    CleanQuery(q): CleanQuery<CallbackQuery>,
) -> PageResult<Response> {
    let t = i18n::texts(&headers, None);
    let answer = Callback {
        code: q.code,
        state: q.state,
        error: q.error,
        iss: q.iss,
    };
    match state
        .eid
        .callback(&id, answer, cookie.as_deref(), &browser.binding())
        .await
    {
        Ok(EidDone::SignIn(next)) => Ok(continue_to(&state, next)),
        Ok(EidDone::Console(person)) => {
            crate::http::console::signed_in(&state, t, &person, &browser).await
        }
        Err(stop) => stopped(t, stop),
    }
}
