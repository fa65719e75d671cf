//! Domain services: the school node's rules. No HTTP here; storage through `store`.

pub mod accounts;
pub mod import;
pub mod passwords;
pub mod signin;
pub mod throttle;

use shared::PersonalCodeError;

use crate::store::StoreError;

/// What is wrong with one field of a form, for the page to say in the person's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Required,
    TooLong,
    PersonalCode(PersonalCodeError),
    PersonalCodeTaken,
    Email,
    Phone,
    PasswordTooShort,
    PasswordMismatch,
    UnknownPersonalCode,
    NotAStudent,
    SelfRelation,
}

/// Problems by field name; empty when the input is good.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(&'static str, Problem)>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, problem: Problem) {
        self.0.push((field, problem));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, field: &str) -> Option<Problem> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, p)| *p)
    }
    pub fn into_result(self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Invalid(self))
        }
    }
    pub fn one(field: &'static str, problem: Problem) -> ServiceError {
        ServiceError::Invalid(FieldErrors(vec![(field, problem)]))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid input: {0:?}")]
    Invalid(FieldErrors),
    #[error("not found")]
    NotFound,
    #[error("not allowed")]
    Forbidden,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Internal(e.into())
    }
}

pub type Result<T> = std::result::Result<T, ServiceError>;
