//! Accounts and their personal data: creating and editing them (admin), a person's own contact
//! data and password, a parent's care of a child's profile, parent–child relations.

use serde::Deserialize;
use shared::names::tidy;
use shared::profile::{ProfileChanges, ProfileField};
use shared::{Email, PersonalCode, Phone};

use super::passwords::{self, PasswordProblem, Secret};
use super::throttle::Throttle;
use super::{FieldErrors, Problem, Result, ServiceError};
use crate::store::accounts::{self as store, AccountRow, NewAccount, PersonalData, Role};
use crate::store::{Database, StoreError};
use shared::audit::Event;

const MAX_NAME: usize = 100;
const MAX_ADDRESS: usize = 300;

#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub personal_code: Option<PersonalCode>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub address: Option<String>,
    pub roles: Vec<Role>,
    pub must_change_password: bool,
    pub disabled: bool,
    pub has_password: bool,
    /// When the account was last changed (seconds).
    pub updated_at: i64,
}

impl Account {
    fn from_row(row: AccountRow, roles: Vec<Role>) -> Self {
        Self {
            id: row.id,
            first_name: row.first_name,
            last_name: row.last_name,
            personal_code: row.personal_code,
            email: row.email,
            phone: row.phone,
            address: row.address,
            roles,
            must_change_password: row.must_change_password,
            disabled: row.disabled,
            has_password: row.password_hash.is_some(),
            updated_at: row.updated_at,
        }
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    /// The phone number the way people write it, or empty.
    pub fn phone_text(&self) -> String {
        self.phone.as_ref().map(Phone::display).unwrap_or_default()
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn data(&self) -> PersonalData {
        PersonalData {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            personal_code: self.personal_code.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            address: self.address.clone(),
        }
    }
}

/// Personal data as typed into a form: every field is checked before anything is stored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PersonalDataInput {
    pub first_name: String,
    pub last_name: String,
    pub personal_code: String,
    pub email: String,
    pub phone: String,
    pub address: String,
}

/// What a person may change on their own profile: contact data and, if typed, the password.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProfileInput {
    pub email: String,
    pub phone: String,
    pub address: String,
    /// The values the form showed (when `shown` is set; an empty field is an empty value). A
    /// field left as shown keeps what is stored now, which may have changed meanwhile at a
    /// linked institution: a stale form never undoes that change.
    pub shown: bool,
    pub shown_email: String,
    pub shown_phone: String,
    pub shown_address: String,
}

/// Checks an optional new password typed twice; `None` when both fields are empty.
fn optional_password(errors: &mut FieldErrors, password: &str, again: &str) -> Option<Secret> {
    if password.is_empty() && again.is_empty() {
        return None;
    }
    match passwords::check_new(password, again) {
        Ok(()) => Some(Secret::new(password)),
        Err(PasswordProblem::TooShort) => {
            errors.add("password", Problem::PasswordTooShort);
            None
        }
        Err(PasswordProblem::Mismatch) => {
            errors.add("password_again", Problem::PasswordMismatch);
            None
        }
    }
}

fn required_name(errors: &mut FieldErrors, field: &'static str, value: &str) -> String {
    let value = tidy(value);
    if value.is_empty() {
        errors.add(field, Problem::Required);
    } else if value.chars().count() > MAX_NAME {
        errors.add(field, Problem::TooLong);
    }
    value
}

fn optional<T>(
    errors: &mut FieldErrors,
    field: &'static str,
    value: &str,
    parse: impl FnOnce(&str) -> std::result::Result<T, Problem>,
) -> Option<T> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    parse(value).map_err(|p| errors.add(field, p)).ok()
}

fn check_contact(
    errors: &mut FieldErrors,
    email: &str,
    phone: &str,
    address: &str,
) -> (Option<Email>, Option<Phone>, Option<String>) {
    let email = optional(errors, "email", email, |v| {
        Email::parse(v).map_err(|_| Problem::Email)
    });
    let phone = optional(errors, "phone", phone, |v| {
        Phone::parse(v).map_err(|_| Problem::Phone)
    });
    let address = optional(errors, "address", address, |v| {
        let v = tidy(v);
        if v.chars().count() > MAX_ADDRESS {
            Err(Problem::TooLong)
        } else {
            Ok(v)
        }
    });
    (email, phone, address)
}

impl PersonalDataInput {
    pub fn validate(&self) -> std::result::Result<PersonalData, FieldErrors> {
        let mut errors = FieldErrors::default();
        let first_name = required_name(&mut errors, "first_name", &self.first_name);
        let last_name = required_name(&mut errors, "last_name", &self.last_name);
        let personal_code = optional(&mut errors, "personal_code", &self.personal_code, |v| {
            PersonalCode::parse(v).map_err(Problem::PersonalCode)
        });
        let (email, phone, address) =
            check_contact(&mut errors, &self.email, &self.phone, &self.address);
        if errors.is_empty() {
            Ok(PersonalData {
                first_name,
                last_name,
                personal_code,
                email,
                phone,
                address,
            })
        } else {
            Err(errors)
        }
    }
}

fn taken(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict => FieldErrors::one("personal_code", Problem::PersonalCodeTaken),
        other => other.into(),
    }
}

fn password_problem(p: PasswordProblem) -> ServiceError {
    match p {
        PasswordProblem::TooShort => FieldErrors::one("password", Problem::PasswordTooShort),
        PasswordProblem::Mismatch => FieldErrors::one("password_again", Problem::PasswordMismatch),
    }
}

pub async fn get(db: &Database, id: &str) -> Result<Account> {
    let row = store::by_id(db, id).await?.ok_or(ServiceError::NotFound)?;
    let roles = store::roles(db, id).await?;
    Ok(Account::from_row(row, roles))
}

pub async fn find(db: &Database, id: &str) -> Result<Option<Account>> {
    match get(db, id).await {
        Ok(a) => Ok(Some(a)),
        Err(ServiceError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn by_personal_code(db: &Database, code: &PersonalCode) -> Result<Option<Account>> {
    match store::by_personal_code(db, code.as_str()).await? {
        Some(row) => {
            let roles = store::roles(db, &row.id).await?;
            Ok(Some(Account::from_row(row, roles)))
        }
        None => Ok(None),
    }
}

/// Creates an account; a given password is temporary and must be changed at first sign-in.
pub async fn create(
    db: &Database,
    input: &PersonalDataInput,
    roles: &[Role],
    temporary: Option<&Secret>,
) -> Result<String> {
    let data = input.validate().map_err(ServiceError::Invalid)?;
    let password_hash = match temporary {
        Some(pw) => Some(passwords::hash(pw).await?),
        None => None,
    };
    let new = NewAccount {
        data,
        password_hash,
        must_change_password: temporary.is_some(),
        roles: roles.to_vec(),
    };
    store::insert(db, &new).await.map_err(taken)
}

pub async fn admin_update(
    db: &Database,
    id: &str,
    input: &PersonalDataInput,
    roles: &[Role],
    event: Event,
) -> Result<()> {
    let data = input.validate().map_err(ServiceError::Invalid)?;
    get(db, id).await?;
    store::update_personal_data(db, id, &data, event)
        .await
        .map_err(taken)?;
    store::set_roles(db, id, roles).await?;
    Ok(())
}

/// Saves a person's own profile; nothing is stored unless every field is good.
/// `event` is recorded with the change, naming the changed fields.
pub async fn update_own_profile(
    db: &Database,
    id: &str,
    input: &ProfileInput,
    event: Event,
) -> Result<()> {
    get(db, id).await?;
    let mut errors = FieldErrors::default();
    let (email, phone, address) =
        check_contact(&mut errors, &input.email, &input.phone, &input.address);
    errors.into_result()?;
    // Only what the person changed in the form is written, onto the data as stored then.
    let mut patch = ProfileChanges::new();
    for (field, typed, shown, value) in [
        (
            ProfileField::Email,
            &input.email,
            &input.shown_email,
            email.map(String::from),
        ),
        (
            ProfileField::Phone,
            &input.phone,
            &input.shown_phone,
            phone.map(String::from),
        ),
        (
            ProfileField::Address,
            &input.address,
            &input.shown_address,
            address,
        ),
    ] {
        if !input.shown || shown != typed {
            patch.insert(field, value);
        }
    }
    if !store::patch_personal_data(db, id, &patch, event)
        .await
        .map_err(taken)?
    {
        return Err(ServiceError::NotFound);
    }
    Ok(())
}

/// Wrong current passwords for one account in a throttle window before the form refuses more.
const CURRENT_PASSWORD_TRIES: u64 = 5;

/// A person changes their own password. With the current one, so that a borrowed session (a
/// browser left signed in) cannot take the account over: unless the account has none yet (an
/// eID sign-in) or must replace the temporary one it has just signed in with. Tries are
/// counted per account before the check, so a burst is held to the same number.
pub async fn change_own_password(
    db: &Database,
    throttle: &Throttle,
    id: &str,
    current: &Secret,
    password: &Secret,
    again: &Secret,
    event: &Event,
) -> Result<()> {
    let row = store::by_id(db, id).await?.ok_or(ServiceError::NotFound)?;
    if let Some(stored) = row.password_hash.as_deref()
        && !row.must_change_password
    {
        if throttle
            .hit("current-password", id, CURRENT_PASSWORD_TRIES)
            .await?
        {
            return Err(FieldErrors::one("current_password", Problem::TooManyTries));
        }
        if !passwords::verify(current, stored).await? {
            return Err(FieldErrors::one(
                "current_password",
                Problem::CurrentPassword,
            ));
        }
    }
    change_password(db, id, password, again, Some(event)).await
}

/// Sets a password the person chose; it is no longer temporary.
pub async fn change_password(
    db: &Database,
    id: &str,
    password: &Secret,
    again: &Secret,
    event: Option<&Event>,
) -> Result<()> {
    passwords::check_new(password.expose(), again.expose()).map_err(password_problem)?;
    let hash = passwords::hash(password).await?;
    if !store::set_password(db, id, &hash, false, event).await? {
        return Err(ServiceError::NotFound);
    }
    Ok(())
}

/// Gives an account a fresh temporary password and returns it, for a letter or the console.
pub async fn reset_to_temporary(db: &Database, id: &str) -> Result<Secret> {
    let password = passwords::temporary();
    let hash = passwords::hash(&password).await?;
    if !store::set_password(db, id, &hash, true, None).await? {
        return Err(ServiceError::NotFound);
    }
    Ok(password)
}

/// Reopens a closed account (closing it is `sign_out::SignOuts::close_account`).
pub async fn reopen(db: &Database, id: &str, event: &Event) -> Result<()> {
    if !store::set_disabled(db, id, false, false, event).await? {
        return Err(ServiceError::NotFound);
    }
    Ok(())
}

/// Accounts with their roles, read in one more query whatever the number of rows.
async fn with_roles(db: &Database, rows: Vec<AccountRow>) -> Result<Vec<Account>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut roles = store::roles_of_many(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let r = roles.remove(&row.id).unwrap_or_default();
            Account::from_row(row, r)
        })
        .collect())
}

/// The person chose a language while signed in: the account keeps it for its letters, and their
/// linked schools are told. True when it differs from what the account had.
pub async fn choose_language(db: &Database, id: &str, locale: crate::i18n::Locale) -> Result<bool> {
    Ok(store::choose_locale(db, id, locale.language()).await?)
}

pub async fn children(db: &Database, parent_id: &str) -> Result<Vec<Account>> {
    with_roles(db, store::children(db, parent_id).await?).await
}

pub async fn parents(db: &Database, child_id: &str) -> Result<Vec<Account>> {
    with_roles(db, store::parents(db, child_id).await?).await
}

/// A child's account as their parent may see it; anyone else is refused.
pub async fn child_of(db: &Database, parent_id: &str, child_id: &str) -> Result<Account> {
    if !store::is_parent_of(db, parent_id, child_id).await? {
        return Err(ServiceError::Forbidden);
    }
    get(db, child_id).await
}

/// What a parent may set on a child's profile: the e-mail and, if typed, a password.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ChildInput {
    pub email: String,
    pub password: String,
    pub password_again: String,
}

pub async fn update_child(
    db: &Database,
    parent_id: &str,
    child_id: &str,
    input: &ChildInput,
    event: Event,
) -> Result<()> {
    let child = child_of(db, parent_id, child_id).await?;
    let mut errors = FieldErrors::default();
    let email = optional(&mut errors, "email", &input.email, |v| {
        Email::parse(v)
            .map(|e| e.as_str().to_owned())
            .map_err(|_| Problem::Email)
    });
    let password = optional_password(&mut errors, &input.password, &input.password_again);
    errors.into_result()?;
    // Hash before writing anything, so a failure leaves the profile as it was.
    let hash = match &password {
        Some(pw) => Some(passwords::hash(pw).await?),
        None => None,
    };
    let patch = ProfileChanges::from([(ProfileField::Email, email)]);
    let password_set = Event {
        kind: shared::audit::kind::PASSWORD_SET.into(),
        ..event.clone()
    };
    store::patch_personal_data(db, &child.id, &patch, event)
        .await
        .map_err(taken)?;
    if let Some(hash) = hash {
        store::set_password(db, child_id, &hash, false, Some(&password_set)).await?;
    }
    Ok(())
}

/// Relates a parent to the student with the given personal code; the parent gains the parent role.
pub async fn add_child(db: &Database, parent_id: &str, child_code: &str) -> Result<()> {
    let code = PersonalCode::parse(child_code)
        .map_err(|e| FieldErrors::one("child_code", Problem::PersonalCode(e)))?;
    let parent = get(db, parent_id).await?;
    let child = by_personal_code(db, &code)
        .await?
        .ok_or_else(|| FieldErrors::one("child_code", Problem::UnknownPersonalCode))?;
    if child.id == parent.id {
        return Err(FieldErrors::one("child_code", Problem::SelfRelation));
    }
    if !child.has_role(Role::Student) {
        return Err(FieldErrors::one("child_code", Problem::NotAStudent));
    }
    store::add_guardianship(db, parent_id, &child.id).await?;
    if !parent.has_role(Role::Parent) {
        let mut roles = parent.roles.clone();
        roles.push(Role::Parent);
        store::set_roles(db, parent_id, &roles).await?;
    }
    Ok(())
}

pub async fn remove_child(db: &Database, parent_id: &str, child_id: &str) -> Result<()> {
    store::remove_guardianship(db, parent_id, child_id).await?;
    Ok(())
}

pub async fn search(db: &Database, query: &str) -> Result<Vec<Account>> {
    with_roles(
        db,
        store::search(db, &shared::names::normalize(query), 200).await?,
    )
    .await
}
