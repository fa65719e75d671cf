//! "Unustasid salasõna?" / "saada mulle ligipääsuandmed" and the sign-in link it sends.

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use crate::error::PageResult;
use crate::http::extract::{ClientAddr, Ctx, VerifiedForm};
use crate::http::render::{Base, Errors, page, page_with};
use crate::service::ServiceError;
use crate::service::passwords::Secret;

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    base: Base,
    csrf: String,
}

#[derive(Template)]
#[template(path = "forgot_sent.html")]
struct SentPage {
    base: Base,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    base: Base,
    csrf: String,
    token: String,
    /// The account's name while the link is good; None shows why it is not.
    name: Option<String>,
    errors: Errors,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ForgotForm {
    username: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetForm {
    password: String,
    password_again: String,
}

pub async fn form(ctx: Ctx) -> PageResult {
    page(ForgotPage {
        base: ctx.base().await?,
        csrf: ctx.csrf().await?,
    })
}

pub async fn submit(
    ctx: Ctx,
    ClientAddr(addr): ClientAddr,
    VerifiedForm(form): VerifiedForm<ForgotForm>,
) -> PageResult {
    ctx.state
        .recovery
        .request(&form.username, ctx.locale, addr)
        .await?;
    Ok(Redirect::to("/forgot/sent").into_response())
}

pub async fn sent(ctx: Ctx) -> PageResult {
    page(SentPage {
        base: ctx.base().await?,
    })
}

pub async fn reset_form(ctx: Ctx, Path(token): Path<String>) -> PageResult {
    let account = ctx.state.recovery.account_for(&token).await?;
    let status = if account.is_some() {
        StatusCode::OK
    } else {
        StatusCode::GONE
    };
    let page_data = ResetPage {
        base: ctx.base().await?,
        csrf: ctx.csrf().await?,
        name: account.map(|a| a.full_name()),
        token,
        errors: Errors::none(ctx.t()),
    };
    page_with(status, page_data)
}

pub async fn reset(
    ctx: Ctx,
    Path(token): Path<String>,
    VerifiedForm(form): VerifiedForm<ResetForm>,
) -> PageResult {
    let (password, again) = (Secret::new(form.password), Secret::new(form.password_again));
    match ctx
        .state
        .recovery
        .choose_password(&token, &password, &again)
        .await
    {
        Ok(Some(account)) => {
            ctx.password_changed(&account.id, false).await?;
            ctx.sign_in(&account.id).await?;
            ctx.flash(ctx.t().saved).await?;
            Ok(Redirect::to("/").into_response())
        }
        Ok(None) => {
            let page_data = ResetPage {
                base: ctx.base().await?,
                csrf: ctx.csrf().await?,
                name: None,
                token,
                errors: Errors::none(ctx.t()),
            };
            page_with(StatusCode::GONE, page_data)
        }
        Err(ServiceError::Invalid(errors)) => {
            let name = ctx
                .state
                .recovery
                .account_for(&token)
                .await?
                .map(|a| a.full_name());
            let page_data = ResetPage {
                base: ctx.base().await?,
                csrf: ctx.csrf().await?,
                name,
                token,
                errors: Errors::from(ctx.t(), errors),
            };
            page_with(StatusCode::UNPROCESSABLE_ENTITY, page_data)
        }
        Err(e) => Err(e.into()),
    }
}
