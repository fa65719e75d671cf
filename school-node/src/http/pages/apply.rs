//! "Esita andmed ja taotle kontot": a parent's account application in two steps.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use crate::error::PageResult;
use crate::http::extract::{ClientAddr, Ctx, VerifiedForm};
use crate::http::render::{Base, Errors, page, page_with};
use crate::service::ServiceError;
use crate::service::applications::{self, ApplicationInput, Draft};

const SESSION_DRAFT: &str = "application_draft";
/// Applications one address may submit in a throttle window.
const PER_ADDRESS: u64 = 10;

#[derive(Template)]
#[template(path = "apply.html")]
struct StepOnePage {
    base: Base,
    csrf: String,
    form: ApplicationInput,
    errors: Errors,
    message: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "apply_confirm.html")]
struct StepTwoPage {
    base: Base,
    csrf: String,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "apply_done.html")]
struct DonePage {
    base: Base,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConfirmForm {
    email_again: String,
}

async fn step_one(
    ctx: &Ctx,
    form: ApplicationInput,
    errors: Errors,
    message: Option<&'static str>,
) -> PageResult<StepOnePage> {
    Ok(StepOnePage {
        base: ctx.base().await?,
        csrf: ctx.csrf().await?,
        form,
        errors,
        message,
    })
}

pub async fn form(ctx: Ctx) -> PageResult {
    let t = ctx.t();
    page(step_one(&ctx, ApplicationInput::default(), Errors::none(t), None).await?)
}

pub async fn submit_step_one(
    ctx: Ctx,
    VerifiedForm(form): VerifiedForm<ApplicationInput>,
) -> PageResult {
    match applications::check_step_one(&form) {
        Ok(draft) => {
            ctx.session.insert(SESSION_DRAFT, &draft).await?;
            Ok(Redirect::to("/apply/confirm").into_response())
        }
        Err(errors) => {
            let errors = Errors::from(ctx.t(), errors);
            page_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                step_one(&ctx, form, errors, None).await?,
            )
        }
    }
}

pub async fn confirm_form(ctx: Ctx) -> PageResult {
    if ctx.session.get::<Draft>(SESSION_DRAFT).await?.is_none() {
        return Ok(Redirect::to("/apply").into_response());
    }
    page(StepTwoPage {
        base: ctx.base().await?,
        csrf: ctx.csrf().await?,
        errors: Errors::none(ctx.t()),
    })
}

pub async fn submit_step_two(
    ctx: Ctx,
    ClientAddr(addr): ClientAddr,
    VerifiedForm(form): VerifiedForm<ConfirmForm>,
) -> PageResult {
    let t = ctx.t();
    let Some(draft) = ctx.session.get::<Draft>(SESSION_DRAFT).await? else {
        let page_data = step_one(
            &ctx,
            ApplicationInput::default(),
            Errors::none(t),
            Some(t.application_expired),
        )
        .await?;
        return page_with(StatusCode::UNPROCESSABLE_ENTITY, page_data);
    };
    if ctx
        .state
        .recovery
        .throttle
        .hit_address("application", addr, PER_ADDRESS)
        .await?
    {
        return Err(crate::error::AppError::new(
            crate::error::ErrorKind::Forbidden,
        ));
    }
    match applications::submit(
        &ctx.state.application_desk(),
        &draft,
        &form.email_again,
        ctx.locale,
    )
    .await
    {
        Ok(()) => {
            ctx.session.remove::<Draft>(SESSION_DRAFT).await?;
            Ok(Redirect::to("/apply/done").into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let page_data = StepTwoPage {
                base: ctx.base().await?,
                csrf: ctx.csrf().await?,
                errors: Errors::from(t, errors),
            };
            page_with(StatusCode::UNPROCESSABLE_ENTITY, page_data)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn done(ctx: Ctx) -> PageResult {
    page(DonePage {
        base: ctx.base().await?,
    })
}
