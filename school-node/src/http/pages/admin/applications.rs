//! The admin's review of parents' account applications: approve or reject with a reason.

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use crate::error::PageResult;
use crate::http::extract::{Admin, SignedIn, VerifiedForm};
use crate::http::render::{Base, Errors, page, page_with};
use crate::service::ServiceError;
use crate::service::applications::{self, Review};
use shared::audit::kind;

#[derive(Template)]
#[template(path = "admin_applications.html")]
struct ApplicationsPage {
    base: Base,
    reviews: Vec<Review>,
    rejected_id: Option<String>,
    errors: Errors,
}

#[derive(Deserialize)]
pub struct Empty {}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RejectForm {
    reason: String,
}

pub async fn list(Admin(SignedIn { ctx, .. }): Admin) -> PageResult {
    let reviews = applications::list(&ctx.state.db).await?;
    page(ApplicationsPage {
        base: ctx.base().await?,
        reviews,
        rejected_id: None,
        errors: Errors::none(ctx.t()),
    })
}

pub async fn approve(
    Admin(SignedIn { ctx, account: me }): Admin,
    Path(id): Path<String>,
    VerifiedForm(_): VerifiedForm<Empty>,
) -> PageResult {
    let parent = applications::approve(&ctx.state.application_desk(), &id).await?;
    let audit = &ctx.state.audit;
    let event = audit.event(kind::APPLICATION_APPROVED, audit.admin(&me), &parent);
    audit
        .record(event.detail(format!("application {id}")))
        .await?;
    ctx.flash(ctx.t().saved).await?;
    Ok(Redirect::to("/admin/applications").into_response())
}

pub async fn reject(
    Admin(SignedIn { ctx, account: me }): Admin,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<RejectForm>,
) -> PageResult {
    match applications::reject(&ctx.state.application_desk(), &id, &form.reason).await {
        Ok(()) => {
            // The applicant has no account: the application is the subject.
            let audit = &ctx.state.audit;
            let event = audit.event(
                kind::APPLICATION_REJECTED,
                audit.admin(&me),
                &format!("application:{id}"),
            );
            audit.record(event).await?;
            ctx.flash(ctx.t().saved).await?;
            Ok(Redirect::to("/admin/applications").into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let reviews = applications::list(&ctx.state.db).await?;
            let page_data = ApplicationsPage {
                base: ctx.base().await?,
                reviews,
                rejected_id: Some(id),
                errors: Errors::from(ctx.t(), errors),
            };
            page_with(StatusCode::UNPROCESSABLE_ENTITY, page_data)
        }
        Err(e) => Err(e.into()),
    }
}
