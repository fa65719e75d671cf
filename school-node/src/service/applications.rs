//! Parents' account applications (DESIGN §4.3, seed 004): two steps, then the admin decides.
//! The applicant is never told whether a child attends; the admin sees which codes match.

use serde::{Deserialize, Serialize};
use shared::{Email, PersonalCode, Phone};

use super::accounts::{self, Account};
use super::passwords;
use super::{FieldErrors, Problem, Result, ServiceError, ShortText};
use crate::i18n::Locale;
use crate::mail::letters::{self, LetterContext};
use crate::mail::{Outbox, now_millis};
use crate::store::accounts::{NewAccount, PersonalData, Role};
use crate::store::applications::{self as store, ApplicationRow, Approval, NewApplication};
use crate::store::{self as storage, Database, StoreError};

/// Most children one application may name.
const MAX_CHILDREN: usize = 12;

/// Step one as typed.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ApplicationInput {
    pub children_codes: String,
    pub personal_code: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
}

/// Step one checked, kept in the session until the e-mail is confirmed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Draft {
    pub children_codes: Vec<String>,
    pub personal_code: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
}

pub fn check_step_one(input: &ApplicationInput) -> std::result::Result<Draft, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut children = Vec::new();
    let typed: Vec<&str> = input
        .children_codes
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|s| !s.is_empty())
        .collect();
    if typed.is_empty() {
        errors.add("children_codes", Problem::Required);
    } else if typed.len() > MAX_CHILDREN {
        errors.add("children_codes", Problem::TooLong);
    }
    for code in typed.iter().take(MAX_CHILDREN) {
        match PersonalCode::parse(code) {
            Ok(c) if !children.contains(&c.as_str().to_owned()) => {
                children.push(c.as_str().to_owned())
            }
            Ok(_) => {}
            Err(error) => errors.add(
                "children_codes",
                Problem::ChildCode {
                    code: ShortText::new(code),
                    error,
                },
            ),
        }
    }
    let personal_code = match PersonalCode::parse(&input.personal_code) {
        Ok(c) => c.as_str().to_owned(),
        Err(_) if input.personal_code.trim().is_empty() => {
            errors.add("personal_code", Problem::Required);
            String::new()
        }
        Err(e) => {
            errors.add("personal_code", Problem::PersonalCode(e));
            String::new()
        }
    };
    let mut name = |field: &'static str, value: &str| {
        let value = shared::names::tidy(value);
        if value.is_empty() {
            errors.add(field, Problem::Required);
        } else if value.chars().count() > 100 {
            errors.add(field, Problem::TooLong);
        }
        value
    };
    let first_name = name("first_name", &input.first_name);
    let last_name = name("last_name", &input.last_name);
    let email = match Email::parse(&input.email) {
        Ok(e) => e.as_str().to_owned(),
        Err(_) => {
            errors.add(
                "email",
                if input.email.trim().is_empty() {
                    Problem::Required
                } else {
                    Problem::Email
                },
            );
            String::new()
        }
    };
    let phone = match Phone::parse(&input.phone) {
        Ok(p) => p.as_str().to_owned(),
        Err(_) => {
            errors.add(
                "phone",
                if input.phone.trim().is_empty() {
                    Problem::Required
                } else {
                    Problem::Phone
                },
            );
            String::new()
        }
    };
    if errors.is_empty() {
        Ok(Draft {
            children_codes: children,
            personal_code,
            first_name,
            last_name,
            email,
            phone,
        })
    } else {
        Err(errors)
    }
}

/// Step two: the e-mail typed again must match; then the application is stored once and the
/// applicant gets a receipt.
pub async fn submit(
    desk: &Desk<'_>,
    draft: &Draft,
    email_again: &str,
    locale: Locale,
) -> Result<()> {
    let again = Email::parse(email_again)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_default();
    if again != draft.email {
        return Err(FieldErrors::one("email_again", Problem::EmailMismatch));
    }
    let new = NewApplication {
        parent_code: draft.personal_code.clone(),
        first_name: draft.first_name.clone(),
        last_name: draft.last_name.clone(),
        email: draft.email.clone(),
        phone: draft.phone.clone(),
        children_codes: draft.children_codes.clone(),
        locale: locale.code().to_owned(),
    };
    let ctx = LetterContext {
        locale,
        institution: desk.institution,
        site_url: desk.site_url,
    };
    let receipt = letters::application_received(&ctx, &draft.email);
    match store::insert(desk.db, &new, &receipt, storage::now(), now_millis()).await {
        Ok(_) => {
            desk.outbox.wake();
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A child's code as the admin sees it: the student it belongs to, if any.
pub struct ChildMatch {
    pub code: String,
    pub student: Option<Account>,
}

pub struct Review {
    pub application: ApplicationRow,
    pub children: Vec<ChildMatch>,
    pub existing_parent: Option<Account>,
}

async fn review_of(db: &Database, application: ApplicationRow) -> Result<Review> {
    let mut children = Vec::new();
    for code in application.children_codes.split_whitespace() {
        let student = match PersonalCode::parse(code) {
            Ok(c) => accounts::by_personal_code(db, &c)
                .await?
                .filter(|a| a.has_role(Role::Student)),
            Err(_) => None,
        };
        children.push(ChildMatch {
            code: code.to_owned(),
            student,
        });
    }
    let existing_parent = match PersonalCode::parse(&application.parent_code) {
        Ok(c) => accounts::by_personal_code(db, &c).await?,
        Err(_) => None,
    };
    Ok(Review {
        application,
        children,
        existing_parent,
    })
}

pub async fn list(db: &Database) -> Result<Vec<Review>> {
    let mut out = Vec::new();
    for row in store::list(db, 200).await? {
        out.push(review_of(db, row).await?);
    }
    Ok(out)
}

/// The application desk: where applications are stored, letters queued, and what they name.
pub struct Desk<'a> {
    pub db: &'a Database,
    pub outbox: &'a Outbox,
    pub institution: &'a str,
    pub site_url: &'a str,
}

fn letter_context<'a>(desk: &Desk<'a>, row: &ApplicationRow) -> LetterContext<'a> {
    LetterContext {
        locale: Locale::parse(&row.locale).unwrap_or(Locale::Et),
        institution: desk.institution,
        site_url: desk.site_url,
    }
}

fn decided(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict => ServiceError::Conflict,
        other => other.into(),
    }
}

/// Approves: a parent account with a temporary password that only the letter carries (or the
/// existing account), related to the children who are students here.
/// Approves an application; returns the parent's account (created, or the one that existed).
pub async fn approve(desk: &Desk<'_>, id: &str) -> Result<String> {
    let db = desk.db;
    let row = store::by_id(db, id).await?.ok_or(ServiceError::NotFound)?;
    if row.status != "pending" {
        return Err(ServiceError::Conflict);
    }
    let review = review_of(db, row).await?;
    let child_ids: Vec<String> = review
        .children
        .iter()
        .filter_map(|c| c.student.as_ref().map(|s| s.id.clone()))
        .collect();
    let ctx = letter_context(desk, &review.application);
    let row = &review.application;
    let at = storage::now();
    let parent_account = match &review.existing_parent {
        Some(parent) => {
            let mail = letters::children_added(&ctx, &row.email);
            let approval = Approval {
                application_id: id,
                new_account: None,
                parent_id: &parent.id,
                child_ids: &child_ids,
                extra_role_for_existing: true,
                mail: &mail,
            };
            store::approve(db, &approval, at, now_millis())
                .await
                .map_err(decided)?;
            parent.id.clone()
        }
        None => {
            let password = passwords::temporary();
            let new = NewAccount {
                data: PersonalData {
                    first_name: row.first_name.clone(),
                    last_name: row.last_name.clone(),
                    personal_code: Some(row.parent_code.clone()),
                    email: Some(row.email.clone()),
                    phone: Some(row.phone.clone()),
                    address: None,
                },
                password_hash: Some(passwords::hash(&password).await?),
                must_change_password: true,
                roles: vec![Role::Parent],
            };
            let parent_id = uuid::Uuid::new_v4().to_string();
            let mail = letters::account_created(&ctx, &row.email, password.expose());
            let approval = Approval {
                application_id: id,
                new_account: Some(&new),
                parent_id: &parent_id,
                child_ids: &child_ids,
                extra_role_for_existing: false,
                mail: &mail,
            };
            store::approve(db, &approval, at, now_millis())
                .await
                .map_err(decided)?;
            // The new account speaks the language its application was made in.
            crate::store::accounts::set_locale(db, &parent_id, &row.locale).await?;
            parent_id
        }
    };
    desk.outbox.wake();
    Ok(parent_account)
}

pub async fn reject(desk: &Desk<'_>, id: &str, reason: &str) -> Result<()> {
    let reason = shared::names::tidy(reason);
    if reason.is_empty() {
        return Err(FieldErrors::one("reason", Problem::Required));
    }
    if reason.chars().count() > 1000 {
        return Err(FieldErrors::one("reason", Problem::TooLong));
    }
    let row = store::by_id(desk.db, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let mail = letters::application_rejected(&letter_context(desk, &row), &row.email, &reason);
    store::reject(desk.db, id, &reason, &mail, storage::now(), now_millis())
        .await
        .map_err(decided)?;
    desk.outbox.wake();
    Ok(())
}
