//! Letters that could not be delivered (past their deadline, or to an address that cannot
//! receive mail): the admin sees whom each was for, why, and what it belonged to, and tries it
//! again or discards it. Below them, the messages the IdP did not take, handled the same way.

use askama::Template;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use crate::error::{AppError, ErrorKind, PageResult};
use crate::http::extract::{Admin, SignedIn, VerifiedForm};
use crate::http::render::{Base, page};
use crate::service::idp_messages;
use crate::store::idp_outbox::{DeadMessage, MessageKind};
use crate::store::outbox::{DeadLetter, Purpose};

struct Row {
    letter: DeadLetter,
    purpose: &'static str,
    given_up: String,
}

struct MessageRow {
    message: DeadMessage,
    kind: &'static str,
    given_up: String,
}

#[derive(Template)]
#[template(path = "admin_mail.html")]
struct MailPage {
    base: Base,
    rows: Vec<Row>,
    messages: Vec<MessageRow>,
}

#[derive(Deserialize)]
pub struct Empty {}

fn when(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(millis / 1_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[day].[month].[year] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

pub async fn list(Admin(SignedIn { ctx, .. }): Admin) -> PageResult {
    let t = ctx.t();
    let rows = ctx
        .state
        .outbox
        .dead_letters()
        .await?
        .into_iter()
        .map(|letter| Row {
            purpose: match Purpose::parse(&letter.purpose) {
                Some(Purpose::SignInLink) => t.purpose_sign_in_link,
                Some(Purpose::ApplicationReceived) => t.purpose_application_received,
                Some(Purpose::AccountCreated) => t.purpose_account_created,
                Some(Purpose::ChildrenAdded) => t.purpose_children_added,
                Some(Purpose::ApplicationRejected) => t.purpose_application_rejected,
                None => "—",
            },
            given_up: when(letter.given_up_at),
            letter,
        })
        .collect();
    let messages = idp_messages::given_up(&ctx.state.db)
        .await?
        .into_iter()
        .map(|message| MessageRow {
            kind: match MessageKind::parse(&message.kind) {
                Some(MessageKind::Profile) => t.message_kind_profile,
                Some(MessageKind::SignOut) => t.sign_out_everywhere,
                Some(MessageKind::PasswordChanged) => t.message_kind_password,
                Some(MessageKind::Language) => t.message_kind_language,
                None => "—",
            },
            given_up: when(message.given_up_at),
            message,
        })
        .collect();
    page(MailPage {
        base: ctx.base().await?,
        rows,
        messages,
    })
}

pub async fn retry(
    Admin(SignedIn { ctx, .. }): Admin,
    Path(id): Path<String>,
    VerifiedForm(_): VerifiedForm<Empty>,
) -> PageResult {
    if !ctx.state.outbox.retry(&id).await? {
        return Err(AppError::new(ErrorKind::NotFound));
    }
    ctx.flash(ctx.t().mail_retried).await?;
    Ok(Redirect::to("/admin/mail").into_response())
}

pub async fn discard(
    Admin(SignedIn { ctx, .. }): Admin,
    Path(id): Path<String>,
    VerifiedForm(_): VerifiedForm<Empty>,
) -> PageResult {
    if !ctx.state.outbox.discard(&id).await? {
        return Err(AppError::new(ErrorKind::NotFound));
    }
    ctx.flash(ctx.t().mail_discarded).await?;
    Ok(Redirect::to("/admin/mail").into_response())
}

pub async fn retry_message(
    Admin(SignedIn { ctx, .. }): Admin,
    Path(seq): Path<i64>,
    VerifiedForm(_): VerifiedForm<Empty>,
) -> PageResult {
    idp_messages::retry(&ctx.state.db, ctx.state.idp_api.as_ref(), seq).await?;
    ctx.flash(ctx.t().message_retried).await?;
    Ok(Redirect::to("/admin/mail").into_response())
}

pub async fn discard_message(
    Admin(SignedIn { ctx, .. }): Admin,
    Path(seq): Path<i64>,
    VerifiedForm(_): VerifiedForm<Empty>,
) -> PageResult {
    idp_messages::discard(&ctx.state.db, seq).await?;
    ctx.flash(ctx.t().message_discarded).await?;
    Ok(Redirect::to("/admin/mail").into_response())
}
