//! Signing keys (which signs, how old; rotate) and dead letters (retry, discard).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::{Done, Frame, Operator, when};
use crate::error::{AppError, PageResult};
use crate::http::extract::{ButtonOnly, CleanQuery, VerifiedForm};
use crate::http::{redirect_no_store, render};
use crate::i18n::Texts;
use crate::service::console::Role;
use crate::state::AppState;

pub struct KeyLine {
    kid: String,
    alg: String,
    created: String,
    signing: bool,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    t: &'static Texts,
    f: Frame,
    keys: Vec<KeyLine>,
    rotated: bool,
}

pub async fn keys(
    State(state): State<AppState>,
    op: Operator,
    CleanQuery(done): CleanQuery<Done>,
) -> PageResult {
    op.require(Role::Operator)?;
    let keys = state
        .operations
        .keys()
        .await?
        .into_iter()
        .map(|k| KeyLine {
            signing: k.retired_at.is_none(),
            kid: k.kid,
            alg: k.alg,
            created: when(k.created_at),
        })
        .collect();
    let page = KeysPage {
        t: op.t,
        f: op.frame(op.t.console.keys),
        keys,
        rotated: done.done.as_deref() == Some("rotated"),
    };
    render(StatusCode::OK, &page)
}

pub async fn rotate(
    State(state): State<AppState>,
    op: Operator,
    VerifiedForm(_): VerifiedForm<ButtonOnly>,
) -> PageResult {
    op.require(Role::Operator)?;
    state.operations.rotate_keys(&op.session).await?;
    Ok(redirect_no_store("/admin/keys?done=rotated"))
}

pub struct LetterLine {
    id: String,
    kind: String,
    to: String,
    attempts: i32,
    gave_up: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "console/outbox.html")]
struct OutboxPage {
    t: &'static Texts,
    f: Frame,
    letters: Vec<LetterLine>,
    done: Option<&'static str>,
}

pub async fn outbox(
    State(state): State<AppState>,
    op: Operator,
    CleanQuery(done): CleanQuery<Done>,
) -> PageResult {
    op.require(Role::Operator)?;
    let letters = state
        .operations
        .dead_letters()
        .await?
        .into_iter()
        .map(|d| LetterLine {
            to: state
                .clients
                .get_even_disabled(&d.client_id)
                .map_or_else(|| d.client_id.clone(), |c| c.name.clone()),
            id: d.id,
            kind: d.kind,
            attempts: d.attempts,
            gave_up: when(d.gave_up_at / 1000),
            reason: d.last_error.unwrap_or_default(),
        })
        .collect();
    let page = OutboxPage {
        t: op.t,
        f: op.frame(op.t.console.outbox),
        letters,
        done: match done.done.as_deref() {
            Some("retry") => Some(op.t.console.retried),
            Some("discard") => Some(op.t.console.discarded),
            _ => None,
        },
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SettleForm {
    action: String,
}

pub async fn settle(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<SettleForm>,
) -> PageResult {
    op.require(Role::Operator)?;
    let retry = match form.action.as_str() {
        "retry" => true,
        "discard" => false,
        _ => return Err(AppError::bad_request().in_lang(op.t)),
    };
    if !state
        .operations
        .settle_dead_letter(&id, retry, &op.session)
        .await?
    {
        return Err(AppError::not_found().in_lang(op.t));
    }
    Ok(redirect_no_store(&format!(
        "/admin/outbox?done={}",
        form.action
    )))
}
