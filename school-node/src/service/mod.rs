//! Domain services: the school node's rules. No HTTP here; storage through `store`.

pub mod accounts;
pub mod applications;
pub mod audit;
pub mod idp_messages;
pub mod import;
pub mod passwords;
pub mod recovery;
pub mod sign_out;
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
    /// The current password, asked before a new one, is wrong.
    CurrentPassword,
    /// Too many wrong tries of a secret; wait out the window.
    TooManyTries,
    UnknownPersonalCode,
    NotAStudent,
    SelfRelation,
    EmailMismatch,
    /// One of several children's codes is wrong; `code` is what was typed (cut to 11 characters).
    ChildCode {
        code: ShortText,
        error: PersonalCodeError,
    },
}

/// Up to 11 characters of typed text, kept inline so a `Problem` stays `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortText {
    bytes: [u8; 44],
    len: u8,
}

impl ShortText {
    pub fn new(s: &str) -> Self {
        let mut bytes = [0u8; 44];
        let mut len = 0;
        for c in s.chars().take(11) {
            let n = c.len_utf8();
            c.encode_utf8(&mut bytes[len..len + n]);
            len += n;
        }
        Self {
            bytes,
            len: len as u8,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
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
    #[error("already decided or changed meanwhile")]
    Conflict,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        ServiceError::Internal(e.into())
    }
}

pub type Result<T> = std::result::Result<T, ServiceError>;
