//! A parent's view of a child's profile: the child's e-mail and password.

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use shared::OptionalText;

use crate::error::PageResult;
use crate::http::extract::{SignedIn, VerifiedForm};
use crate::http::render::{Base, Errors, page, page_with};
use crate::service::ServiceError;
use crate::service::accounts::{self, Account, ChildInput};
use shared::audit::kind;

#[derive(Template)]
#[template(path = "child.html")]
struct ChildPage {
    base: Base,
    child: Account,
    email: String,
    errors: Errors,
}

pub async fn show(SignedIn { ctx, account }: SignedIn, Path(child_id): Path<String>) -> PageResult {
    let child = accounts::child_of(&ctx.state.db, &account.id, &child_id).await?;
    // A parent opening a child's page is an access to the child's data.
    let audit = &ctx.state.audit;
    audit
        .record(audit.event(kind::DATA_VIEWED, audit.parent(&account), &child.id))
        .await?;
    let email = child.email.text_or_empty();
    page(ChildPage {
        base: ctx.base().await?,
        child,
        email,
        errors: Errors::none(ctx.t()),
    })
}

pub async fn save(
    SignedIn { ctx, account }: SignedIn,
    Path(child_id): Path<String>,
    VerifiedForm(form): VerifiedForm<ChildInput>,
) -> PageResult {
    let audit = &ctx.state.audit;
    let event = audit.event(kind::PROFILE_CHANGED, audit.parent(&account), &child_id);
    match accounts::update_child(&ctx.state.db, &account.id, &child_id, &form, event).await {
        Ok(()) => {
            ctx.state.profile_changed();
            if !form.password.is_empty() {
                ctx.password_changed(&child_id, false).await?;
            }
            ctx.flash(ctx.t().saved).await?;
            Ok(Redirect::to(&format!("/children/{child_id}")).into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let child = accounts::child_of(&ctx.state.db, &account.id, &child_id).await?;
            let errors = Errors::from(ctx.t(), errors);
            page_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                ChildPage {
                    base: ctx.base().await?,
                    child,
                    email: form.email,
                    errors,
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}
