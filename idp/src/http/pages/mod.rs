//! Pages people see: the branded sign-in page and messages.

pub mod eid;
pub mod link;
pub mod login;

use askama::Template;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::i18n::{self, Texts};

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    t: &'static Texts,
    title: &'a str,
    message: &'a str,
    detail: Option<&'a str>,
    is_error: bool,
}

/// A page with one message; errors are shown here when they cannot go back to a client.
pub fn message(
    status: StatusCode,
    t: &'static Texts,
    title: &str,
    text: &str,
    detail: Option<&str>,
) -> Response {
    let page = MessagePage {
        t,
        title,
        message: text,
        detail,
        is_error: status.is_client_error() || status.is_server_error(),
    };
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, t.internal).into_response()
        }
    }
}

pub fn error(status: StatusCode, t: &'static Texts, text: &str) -> Response {
    message(status, t, t.error_title, text, None)
}

pub async fn not_found(headers: HeaderMap) -> Response {
    let t = i18n::texts(&headers, None);
    error(StatusCode::NOT_FOUND, t, t.not_found)
}
