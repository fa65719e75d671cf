//! A person's own profile: e-mail, phone, address and a new password ("Salvesta").

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use shared::OptionalText;

use crate::error::PageResult;
use crate::http::extract::{SignedIn, VerifiedForm};
use crate::http::render::{Base, Errors, page, page_with};
use crate::service::ServiceError;
use crate::service::accounts::{self, Account, ProfileInput};

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    base: Base,
    account: Account,
    form: ProfileInput,
    errors: Errors,
}

pub async fn show(SignedIn { ctx, account }: SignedIn) -> PageResult {
    let form = ProfileInput {
        email: account.email.text_or_empty(),
        phone: account.phone.text_or_empty(),
        address: account.address.clone().unwrap_or_default(),
        ..ProfileInput::default()
    };
    page(ProfilePage {
        base: ctx.base().await?,
        account,
        form,
        errors: Errors::none(ctx.t()),
    })
}

pub async fn save(
    SignedIn { ctx, account }: SignedIn,
    VerifiedForm(form): VerifiedForm<ProfileInput>,
) -> PageResult {
    match accounts::update_own_profile(&ctx.state.db, &account.id, &form).await {
        Ok(()) => {
            ctx.state.profile_changed();
            if !form.password.is_empty() {
                ctx.password_changed(&account.id, true).await?;
            }
            ctx.flash(ctx.t().saved).await?;
            Ok(Redirect::to("/profile").into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let form = ProfileInput {
                password: String::new(),
                password_again: String::new(),
                ..form
            };
            let errors = Errors::from(ctx.t(), errors);
            page_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProfilePage {
                    base: ctx.base().await?,
                    account,
                    form,
                    errors,
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}
