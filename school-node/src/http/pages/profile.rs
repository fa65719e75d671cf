//! A person's own profile: e-mail, phone, address and a new password ("Salvesta").

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use shared::OptionalText;

use crate::error::PageResult;
use crate::http::extract::{Ctx, SignedIn, VerifiedForm};
use crate::http::render::{Base, Errors, EventLine, event_lines, page, page_with};
use crate::service::ServiceError;
use crate::service::accounts::{self, Account, ProfileInput};
use shared::audit::kind;

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    base: Base,
    account: Account,
    form: ProfileInput,
    errors: Errors,
    /// The account's own events (who signed in, who viewed or changed its data).
    events: Vec<EventLine>,
    /// "Minu andmed" at the IdP, when this school is in the federation.
    my_data_url: Option<String>,
}

/// How many of the account's events its profile shows.
const PROFILE_EVENTS: i64 = 20;

async fn events_of(ctx: &Ctx, account: &Account) -> PageResult<Vec<EventLine>> {
    let events = ctx
        .state
        .audit
        .of_account(&account.id, PROFILE_EVENTS)
        .await?;
    Ok(event_lines(ctx.t(), &events))
}

fn shown(account: &Account) -> ProfileInput {
    ProfileInput {
        email: account.email.text_or_empty(),
        phone: account
            .phone
            .as_ref()
            .map(|p| p.display())
            .unwrap_or_default(),
        address: account.address.clone().unwrap_or_default(),
        ..ProfileInput::default()
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct ShowQuery {
    /// Back from linking accounts at the IdP.
    linked: Option<String>,
}

pub async fn show(
    SignedIn { ctx, account }: SignedIn,
    axum::extract::Query(query): axum::extract::Query<ShowQuery>,
) -> PageResult {
    let mut base = ctx.base().await?;
    // Said only when there is a link to show: a made-up address proves nothing.
    if query.linked.is_some() && !base.institutions.is_empty() {
        base.flash = Some(ctx.t().linked_done.to_owned());
    }
    page(ProfilePage {
        events: events_of(&ctx, &account).await?,
        my_data_url: ctx.my_data_url(),
        base,
        form: shown(&account),
        account,
        errors: Errors::none(ctx.t()),
    })
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    password: String,
    password_again: String,
}

/// The profile's own form for a new password, apart from the contact data's "Salvesta".
pub async fn save_password(
    SignedIn { ctx, account }: SignedIn,
    VerifiedForm(form): VerifiedForm<PasswordForm>,
) -> PageResult {
    use crate::service::passwords::Secret;
    let (current, password, again) = (
        Secret::new(&form.current_password),
        Secret::new(&form.password),
        Secret::new(&form.password_again),
    );
    let state = &ctx.state;
    let event = state.audit.event(
        kind::PASSWORD_SET,
        state.audit.person(&account),
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
            ctx.flash(ctx.t().password_saved).await?;
            Ok(Redirect::to("/profile").into_response())
        }
        Err(ServiceError::Invalid(errors)) => page_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProfilePage {
                events: events_of(&ctx, &account).await?,
                my_data_url: ctx.my_data_url(),
                base: ctx.base().await?,
                form: shown(&account),
                account,
                errors: Errors::from(ctx.t(), errors),
            },
        ),
        Err(e) => Err(e.into()),
    }
}

pub async fn save(
    SignedIn { ctx, account }: SignedIn,
    VerifiedForm(form): VerifiedForm<ProfileInput>,
) -> PageResult {
    let audit = &ctx.state.audit;
    let event = audit.event(kind::PROFILE_CHANGED, audit.person(&account), &account.id);
    match accounts::update_own_profile(&ctx.state.db, &account.id, &form, event).await {
        Ok(()) => {
            ctx.state.profile_changed();
            ctx.flash(ctx.t().saved).await?;
            Ok(Redirect::to("/profile").into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let errors = Errors::from(ctx.t(), errors);
            page_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProfilePage {
                    events: events_of(&ctx, &account).await?,
                    my_data_url: ctx.my_data_url(),
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
