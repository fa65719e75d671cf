//! A secret in memory (a password, a client secret, a private key): `Debug` and `Display`
//! never show it, so it cannot reach a log by accident.

use serde::{Deserialize, Serialize};

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The shortest password a person may choose.
pub const MIN_PASSWORD_LENGTH: usize = 8;

/// Why a chosen password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordProblem {
    TooShort,
    Mismatch,
}

/// The rule for a chosen password, the same at every node and on the IdP's page: at least
/// eight characters, typed the same twice.
pub fn check_new_password(password: &str, again: &str) -> Result<(), PasswordProblem> {
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        Err(PasswordProblem::TooShort)
    } else if password != again {
        Err(PasswordProblem::Mismatch)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(***))");
        assert_eq!(s.expose(), "hunter2-very-secret");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Secret>(&json).unwrap(), s);
    }

    #[test]
    fn a_new_password_is_long_enough_and_typed_twice() {
        assert_eq!(
            check_new_password("lühike", "lühike"),
            Err(PasswordProblem::TooShort)
        );
        assert_eq!(
            check_new_password("õunapuu-1", "õunapuu-2"),
            Err(PasswordProblem::Mismatch)
        );
        assert_eq!(check_new_password("õunapuud", "õunapuud"), Ok(()));
    }
}
