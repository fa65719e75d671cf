//! Creating, finding and editing accounts; relating parents and children; closing accounts.

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use shared::OptionalText;

use crate::error::PageResult;
use crate::http::extract::{Admin, SignedIn, VerifiedForm};
use crate::http::render::{Base, Errors, page, page_with};
use crate::service::accounts::{self, Account, PersonalDataInput};
use crate::service::passwords::{self, Secret};
use crate::service::sign_out::SignOutState;
use crate::service::{FieldErrors, Problem, ServiceError};
use crate::store::accounts::Role;
use shared::audit::kind;

#[derive(Template)]
#[template(path = "admin_accounts.html")]
struct ListPage {
    base: Base,
    query: String,
    accounts: Vec<Account>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SearchQuery {
    q: String,
}

pub async fn list(
    Admin(SignedIn { ctx, .. }): Admin,
    Query(query): Query<SearchQuery>,
) -> PageResult {
    let accounts = accounts::search(&ctx.state.db, &query.q).await?;
    page(ListPage {
        base: ctx.base().await?,
        query: query.q,
        accounts,
    })
}

#[derive(Template)]
#[template(path = "admin_account.html")]
struct AccountPage {
    base: Base,
    account: Option<Account>,
    action: String,
    form: PersonalDataInput,
    roles: Vec<(Role, bool)>,
    children: Vec<Account>,
    parents: Vec<Account>,
    child_code: String,
    errors: Errors,
    /// Where the last "sign out everywhere" is, said for the admin.
    sign_out_state: Option<String>,
    /// The account's recent events.
    events: Vec<crate::http::render::EventLine>,
}

/// The account form as posted: personal data, role check boxes and, for a new account, a
/// temporary password.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AccountForm {
    first_name: String,
    last_name: String,
    personal_code: String,
    email: String,
    phone: String,
    address: String,
    roles: Vec<String>,
    temporary_password: String,
}

impl AccountForm {
    fn data(&self) -> PersonalDataInput {
        PersonalDataInput {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            personal_code: self.personal_code.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            address: self.address.clone(),
        }
    }

    fn roles(&self) -> Vec<Role> {
        let mut roles: Vec<Role> = self.roles.iter().filter_map(|r| Role::parse(r)).collect();
        roles.sort();
        roles.dedup();
        roles
    }
}

fn role_boxes(selected: &[Role]) -> Vec<(Role, bool)> {
    Role::ALL
        .into_iter()
        .map(|r| (r, selected.contains(&r)))
        .collect()
}

fn data_of(a: &Account) -> PersonalDataInput {
    PersonalDataInput {
        first_name: a.first_name.clone(),
        last_name: a.last_name.clone(),
        personal_code: a.personal_code.text_or_empty(),
        email: a.email.text_or_empty(),
        phone: a.phone.text_or_empty(),
        address: a.address.clone().unwrap_or_default(),
    }
}

pub async fn new_form(Admin(SignedIn { ctx, .. }): Admin) -> PageResult {
    page(AccountPage {
        base: ctx.base().await?,
        account: None,
        action: "/admin/accounts".into(),
        form: PersonalDataInput::default(),
        roles: role_boxes(&[]),
        children: Vec::new(),
        parents: Vec::new(),
        child_code: String::new(),
        errors: Errors::none(ctx.t()),
        sign_out_state: None,
        events: Vec::new(),
    })
}

pub async fn create(
    Admin(SignedIn { ctx, account: me }): Admin,
    VerifiedForm(form): VerifiedForm<AccountForm>,
) -> PageResult {
    let temporary =
        (!form.temporary_password.is_empty()).then(|| Secret::new(form.temporary_password.clone()));
    let result = match &temporary {
        Some(pw) if pw.expose().chars().count() < passwords::MIN_LENGTH => {
            Err(FieldErrors::one("password", Problem::PasswordTooShort))
        }
        _ => {
            accounts::create(
                &ctx.state.db,
                &form.data(),
                &form.roles(),
                temporary.as_ref(),
            )
            .await
        }
    };
    match result {
        Ok(id) => {
            let audit = &ctx.state.audit;
            let mut event = audit.event(kind::ACCOUNT_CREATED, audit.admin(&me), &id);
            if temporary.is_some() {
                event = event.detail("temporary_password");
            }
            audit.record(event).await?;
            ctx.flash(ctx.t().saved).await?;
            Ok(Redirect::to(&format!("/admin/accounts/{id}")).into_response())
        }
        Err(ServiceError::Invalid(errors)) => page_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            AccountPage {
                base: ctx.base().await?,
                account: None,
                action: "/admin/accounts".into(),
                form: form.data(),
                roles: role_boxes(&form.roles()),
                children: Vec::new(),
                parents: Vec::new(),
                child_code: String::new(),
                errors: Errors::from(ctx.t(), errors),
                sign_out_state: None,
                events: Vec::new(),
            },
        ),
        Err(e) => Err(e.into()),
    }
}

/// How many of an account's events its admin page shows.
const ADMIN_EVENTS: i64 = 30;

async fn edit_page(
    ctx: &crate::http::extract::Ctx,
    account: Account,
    form: PersonalDataInput,
    roles: Vec<Role>,
    child_code: String,
    errors: Errors,
) -> PageResult<AccountPage> {
    let db = &ctx.state.db;
    let t = ctx.t();
    let sign_out_state = ctx
        .state
        .sign_outs()
        .state(&account.id)
        .await?
        .map(|state| match state {
            SignOutState::Queued { .. } => t.sign_out_state_queued.to_owned(),
            SignOutState::Done { sessions, .. } => format!("{} {sessions}.", t.sign_out_state_done),
            SignOutState::GivenUp { why } => format!("{} {why}", t.sign_out_state_given_up),
        });
    let events = ctx
        .state
        .audit
        .of_account(&account.id, ADMIN_EVENTS)
        .await?;
    Ok(AccountPage {
        events: crate::http::render::event_lines(t, &events),
        sign_out_state,
        base: ctx.base().await?,
        action: format!("/admin/accounts/{}", account.id),
        children: accounts::children(db, &account.id).await?,
        parents: accounts::parents(db, &account.id).await?,
        account: Some(account),
        form,
        roles: role_boxes(&roles),
        child_code,
        errors,
    })
}

pub async fn edit_form(
    Admin(SignedIn { ctx, account: me }): Admin,
    Path(id): Path<String>,
) -> PageResult {
    let account = accounts::get(&ctx.state.db, &id).await?;
    // Opening a person's page is an access to their data: it shows in their data tracker.
    let audit = &ctx.state.audit;
    audit
        .record(audit.event(kind::DATA_VIEWED, audit.admin(&me), &id))
        .await?;
    let (form, roles) = (data_of(&account), account.roles.clone());
    page(
        edit_page(
            &ctx,
            account,
            form,
            roles,
            String::new(),
            Errors::none(ctx.t()),
        )
        .await?,
    )
}

pub async fn update(
    Admin(SignedIn { ctx, account: me }): Admin,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<AccountForm>,
) -> PageResult {
    let audit = &ctx.state.audit;
    let event = audit.event(kind::PROFILE_CHANGED, audit.admin(&me), &id);
    match accounts::admin_update(&ctx.state.db, &id, &form.data(), &form.roles(), event).await {
        Ok(()) => {
            ctx.state.profile_changed();
            ctx.flash(ctx.t().saved).await?;
            Ok(Redirect::to(&format!("/admin/accounts/{id}")).into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let account = accounts::get(&ctx.state.db, &id).await?;
            let errors = Errors::from(ctx.t(), errors);
            let page_data = edit_page(
                &ctx,
                account,
                form.data(),
                form.roles(),
                String::new(),
                errors,
            )
            .await?;
            page_with(StatusCode::UNPROCESSABLE_ENTITY, page_data)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ChildForm {
    child_code: String,
}

pub async fn add_child(
    Admin(SignedIn { ctx, .. }): Admin,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<ChildForm>,
) -> PageResult {
    match accounts::add_child(&ctx.state.db, &id, &form.child_code).await {
        Ok(()) => {
            ctx.flash(ctx.t().saved).await?;
            Ok(Redirect::to(&format!("/admin/accounts/{id}")).into_response())
        }
        Err(ServiceError::Invalid(errors)) => {
            let account = accounts::get(&ctx.state.db, &id).await?;
            let (data, roles) = (data_of(&account), account.roles.clone());
            let errors = Errors::from(ctx.t(), errors);
            let page_data = edit_page(&ctx, account, data, roles, form.child_code, errors).await?;
            page_with(StatusCode::UNPROCESSABLE_ENTITY, page_data)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn remove_child(
    Admin(SignedIn { ctx, .. }): Admin,
    Path((id, child)): Path<(String, String)>,
    VerifiedForm(_): VerifiedForm<Empty>,
) -> PageResult {
    accounts::remove_child(&ctx.state.db, &id, &child).await?;
    Ok(Redirect::to(&format!("/admin/accounts/{id}")).into_response())
}

pub async fn disable(
    Admin(SignedIn { ctx, account: me }): Admin,
    Path(id): Path<String>,
    VerifiedForm(_): VerifiedForm<Empty>,
) -> PageResult {
    let audit = &ctx.state.audit;
    let event = audit.event(kind::ACCOUNT_CLOSED, audit.admin(&me), &id);
    ctx.state.sign_outs().close_account(&id, &event).await?;
    Ok(Redirect::to(&format!("/admin/accounts/{id}")).into_response())
}

/// "Logi välja kõikjalt": ends the person's sessions here, at the IdP and at every linked
/// institution (the IdP's part as soon as it answers).
pub async fn sign_out(
    Admin(SignedIn { ctx, account: me }): Admin,
    Path(id): Path<String>,
    VerifiedForm(_): VerifiedForm<Empty>,
) -> PageResult {
    ctx.state.sign_outs().everywhere(&id).await?;
    let audit = &ctx.state.audit;
    let event = audit.event(kind::SIGNOUT, audit.admin(&me), &id);
    audit.record(event.detail("everywhere")).await?;
    ctx.flash(ctx.t().sign_out_queued).await?;
    Ok(Redirect::to(&format!("/admin/accounts/{id}")).into_response())
}

pub async fn enable(
    Admin(SignedIn { ctx, account: me }): Admin,
    Path(id): Path<String>,
    VerifiedForm(_): VerifiedForm<Empty>,
) -> PageResult {
    let audit = &ctx.state.audit;
    let event = audit.event(kind::ACCOUNT_REOPENED, audit.admin(&me), &id);
    accounts::reopen(&ctx.state.db, &id, &event).await?;
    Ok(Redirect::to(&format!("/admin/accounts/{id}")).into_response())
}
