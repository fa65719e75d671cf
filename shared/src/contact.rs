//! E-mail addresses and phone numbers as values that were checked once, at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("not an e-mail address")]
    Email,
    #[error("not a phone number")]
    Phone,
}

/// An e-mail address a letter can reach: the one rule for every form and for the mailer, at
/// least as strict as the mailer's own parser (a test holds it to that), so a form never takes
/// an address that the mailer later refuses. Stored lower-cased, because mailboxes are matched
/// case-insensitively in practice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// RFC 5321 `atext`: what a dot-atom local part is made of besides dots.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c)
}

/// A domain a letter can be sent to: dotted labels of letters, digits and inner hyphens, each
/// at most 63 long, the whole at most 253, the last not all digits.
fn is_mail_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && !labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
}

impl Email {
    /// The rule for new addresses: a dot-atom local part (no leading, trailing or doubled
    /// dot) and a domain of proper labels.
    pub fn parse(input: &str) -> Result<Self, ContactError> {
        let s = input.trim().to_lowercase();
        let (local, domain) = s.split_once('@').ok_or(ContactError::Email)?;
        let local_ok = (1..=64).contains(&local.len())
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c == '.' || is_atext(c));
        if local_ok && is_mail_domain(domain) && s.len() <= 254 {
            Ok(Self(s))
        } else {
            Err(ContactError::Email)
        }
    }

    /// An address as stored before the rule was strict: read back as it is, so old data stays
    /// readable; the mailer checks it with `parse` before sending.
    pub fn from_stored(input: &str) -> Result<Self, ContactError> {
        let s = input.trim().to_lowercase();
        let (local, domain) = s.split_once('@').ok_or(ContactError::Email)?;
        let ok = !local.is_empty()
            && s.len() <= 254
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@')
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>(),;:\"[]\\".contains(c));
        if ok {
            Ok(Self(s))
        } else {
            Err(ContactError::Email)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = ContactError;
    /// Messages carry stored addresses, which older rules may have let in.
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::from_stored(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> Self {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number: an optional leading `+`, then 5 to 15 digits; spaces and dashes are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(input: &str) -> Result<Self, ContactError> {
        let s: String = input
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        let digits = s.strip_prefix('+').unwrap_or(&s);
        let ok = (5..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(s))
        } else {
            Err(ContactError::Phone)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number the way people write it: `+372 5123 4567`, `+372 512 3456`, `5123 4567`.
    pub fn display(&self) -> String {
        let (prefix, rest) = match self.0.strip_prefix("+372") {
            Some(rest) => ("+372 ", rest),
            None if self.0.starts_with('+') => return self.0.clone(),
            None => ("", self.0.as_str()),
        };
        match rest.len() {
            7 | 8 => {
                let split = rest.len() - 4;
                format!("{prefix}{} {}", &rest[..split], &rest[split..])
            }
            _ => self.0.clone(),
        }
    }
}

impl TryFrom<String> for Phone {
    type Error = ContactError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> Self {
        p.0
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn phones_are_shown_the_way_people_write_them() {
        let shown = |s: &str| Phone::parse(s).unwrap().display();
        assert_eq!(shown("+37251234567"), "+372 5123 4567");
        assert_eq!(shown("+372 512 3456"), "+372 512 3456");
        assert_eq!(shown("51234567"), "5123 4567");
        assert_eq!(shown("+358401234567"), "+358401234567");
        // What is shown reads back as the same number.
        assert_eq!(
            Phone::parse(&shown("+37251234567")).unwrap(),
            Phone::parse("+37251234567").unwrap()
        );
    }

    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Mari.Maasikas@Example.EE ").unwrap().as_str(),
            "mari.maasikas@example.ee"
        );
        for bad in [
            "",
            "mari",
            "mari@",
            "@example.ee",
            "mari@example",
            "mari maasikas@example.ee",
            "a@b@c.ee",
            "mari@.ee",
            "mari@example..ee",
            ".malle@example.ee",
            "malle.@example.ee",
            "malle..vanem@example.ee",
            "malle@-kool-.ee",
            "malle@kool-.ee",
            "malle@kool.123",
            "malle\0@example.ee",
            "mälle@example.ee",
        ] {
            assert_eq!(Email::parse(bad), Err(ContactError::Email), "{bad}");
        }
        let long_label = format!("malle@{}.ee", "k".repeat(64));
        assert!(Email::parse(&long_label).is_err());
        assert!(Email::parse(&format!("malle@{}.ee", "k".repeat(63))).is_ok());
        for good in [
            "o'brien+kool@example.ee",
            "mari@jõgeva-kool.ee",
            "a.b.c@x.y.ee",
        ] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        // Stored before the rule was strict: still readable.
        assert!(Email::from_stored("malle..vanem@example.ee").is_ok());
    }

    proptest::proptest! {
        /// Whatever the rule takes, the mailer's own parser takes too.
        #[test]
        fn the_mailer_takes_every_address_the_rule_takes(
            local in "[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,20}",
            labels in proptest::collection::vec("[a-zõäöü0-9-]{1,12}", 2..4),
        ) {
            let address = format!("{local}@{}", labels.join("."));
            if let Ok(email) = Email::parse(&address) {
                proptest::prop_assert!(
                    email.as_str().parse::<lettre::Address>().is_ok(),
                    "lettre refuses {}", email
                );
            }
        }
    }

    #[test]
    fn phones() {
        assert_eq!(
            Phone::parse("+372 5123 4567").unwrap().as_str(),
            "+37251234567"
        );
        assert_eq!(Phone::parse("5123-4567").unwrap().as_str(), "51234567");
        for bad in ["", "12", "+372 abc", "1234567890123456"] {
            assert_eq!(Phone::parse(bad), Err(ContactError::Phone), "{bad}");
        }
    }
}

/// Stores a checked value as its text and checks it again when read, so a row can hold only
/// what the type allows.
macro_rules! text_column {
    ($name:ty) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                self.as_str().to_owned().encode_by_ref(buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <String as sqlx::Decode<'r, DB>>::decode(value)?;
                Ok(<$name>::from_stored(&text)?)
            }
        }
    };
}

text_column!(Email);
text_column!(Phone);
text_column!(crate::PersonalCode);

impl Phone {
    /// A number as stored: the rule has not changed, so it is the rule.
    pub fn from_stored(input: &str) -> Result<Self, ContactError> {
        Self::parse(input)
    }
}

impl crate::PersonalCode {
    /// A code as stored: checked again, but not against today, which moves.
    pub fn from_stored(input: &str) -> Result<Self, crate::PersonalCodeError> {
        Self::parse_on(input, time::Date::MAX)
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Phone {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for crate::PersonalCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// An optional checked value as text, for pages and comparisons.
pub trait OptionalText {
    fn text(&self) -> Option<&str>;
    /// The text, or empty when there is none (a form field).
    fn text_or_empty(&self) -> String {
        self.text().unwrap_or_default().to_owned()
    }
}

impl<T: AsRef<str>> OptionalText for Option<T> {
    fn text(&self) -> Option<&str> {
        self.as_ref().map(AsRef::as_ref)
    }
}

/// Read-only access to the checked text, so a value goes wherever a `&str` does.
macro_rules! text_deref {
    ($name:ty) => {
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                self.as_ref()
            }
        }
    };
}

text_deref!(Email);
text_deref!(Phone);
text_deref!(crate::PersonalCode);

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
