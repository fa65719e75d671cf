//! Choosing a new password; a temporary password leads here before anything else.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use crate::error::PageResult;
use crate::http::extract::{Ctx, VerifiedForm};
use crate::http::render::{Base, Errors, page, page_with};
use crate::service::ServiceError;
use crate::service::accounts;
use crate::service::passwords::Secret;

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    base: Base,
    forced: bool,
    /// Whether the form asks for the current password (see `accounts::change_own_password`).
    ask_current: bool,
    errors: Errors,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    password: String,
    password_again: String,
}

pub async fn show(ctx: Ctx) -> PageResult {
    let Some(account) = ctx.user.as_ref() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let forced = account.must_change_password;
    page(PasswordPage {
        base: ctx.base().await?,
        forced,
        ask_current: account.has_password && !forced,
        errors: Errors::none(ctx.t()),
    })
}

pub async fn save(ctx: Ctx, VerifiedForm(form): VerifiedForm<PasswordForm>) -> PageResult {
    let Some(account) = ctx.user.as_ref() else {
        return Ok(Redirect::to("/login").into_response());
    };
    let (current, password, again) = (
        Secret::new(form.current_password),
        Secret::new(form.password),
        Secret::new(form.password_again),
    );
    let state = &ctx.state;
    let event = state.audit.event(
        shared::audit::kind::PASSWORD_SET,
        state.audit.person(account),
        &account.id,
    );
    match accounts::change_own_password(
        &state.db,
        &state.recovery.throttle,
        &account.id,
        &current,
        &password,
        &again,
        &event,
    )
    .await
    {
        Ok(()) => {
            ctx.password_changed(&account.id, true).await?;
            ctx.flash(ctx.t().saved).await?;
            Ok(Redirect::to("/").into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let forced = account.must_change_password;
            let errors = Errors::from(ctx.t(), errors);
            page_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                PasswordPage {
                    base: ctx.base().await?,
                    forced,
                    ask_current: account.has_password && !forced,
                    errors,
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}
