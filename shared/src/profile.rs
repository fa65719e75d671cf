//! The personal data that linked accounts share (DESIGN §4.5) and the federation messages that
//! carry it. Roles and passwords are never part of it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::AccountId;
use crate::matching;
use crate::{Email, PersonalCode, Phone};

/// One synced field. The order is the order pages show them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileField {
    FirstName,
    LastName,
    PersonalCode,
    Email,
    Phone,
    Address,
}

impl ProfileField {
    /// The field's stable name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileField::FirstName => "first_name",
            ProfileField::LastName => "last_name",
            ProfileField::PersonalCode => "personal_code",
            ProfileField::Email => "email",
            ProfileField::Phone => "phone",
            ProfileField::Address => "address",
        }
    }
}

/// Personal data as stored at a node and at the IdP. The typed fields hold only valid values,
/// so a profile that arrives in a message was checked as it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedProfile {
    pub first_name: String,
    pub last_name: String,
    pub personal_code: Option<PersonalCode>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub address: Option<String>,
}

/// A value that does not fit its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {0:?}")]
pub struct InvalidField(pub ProfileField);

/// New values of the fields that changed; `None` clears an optional field.
pub type ProfileChanges = BTreeMap<ProfileField, Option<String>>;

impl SharedProfile {
    pub fn get(&self, field: ProfileField) -> Option<&str> {
        match field {
            ProfileField::FirstName => Some(&self.first_name),
            ProfileField::LastName => Some(&self.last_name),
            ProfileField::PersonalCode => self.personal_code.as_ref().map(PersonalCode::as_str),
            ProfileField::Email => self.email.as_ref().map(Email::as_str),
            ProfileField::Phone => self.phone.as_ref().map(Phone::as_str),
            ProfileField::Address => self.address.as_deref(),
        }
    }

    /// Sets one field from its text; a name cannot be cleared, so `None` leaves it as it is.
    /// A value that does not fit the field changes nothing.
    pub fn set(&mut self, field: ProfileField, value: Option<&str>) -> Result<(), InvalidField> {
        let invalid = InvalidField(field);
        match field {
            ProfileField::FirstName | ProfileField::LastName => {
                let Some(v) = value else { return Ok(()) };
                if v.trim().is_empty() || v.chars().any(char::is_control) {
                    return Err(InvalidField(field));
                }
                if field == ProfileField::FirstName {
                    self.first_name = v.to_owned();
                } else {
                    self.last_name = v.to_owned();
                }
            }
            ProfileField::PersonalCode => {
                self.personal_code = value
                    .map(PersonalCode::parse)
                    .transpose()
                    .map_err(|_| invalid)?
            }
            ProfileField::Email => {
                self.email = value.map(Email::parse).transpose().map_err(|_| invalid)?
            }
            ProfileField::Phone => {
                self.phone = value.map(Phone::parse).transpose().map_err(|_| invalid)?
            }
            ProfileField::Address => {
                if value.is_some_and(|v| v.chars().any(|c| c.is_control() && c != '\n')) {
                    return Err(InvalidField(field));
                }
                self.address = value.map(str::to_owned)
            }
        }
        Ok(())
    }

    pub const FIELDS: [ProfileField; 6] = [
        ProfileField::FirstName,
        ProfileField::LastName,
        ProfileField::PersonalCode,
        ProfileField::Email,
        ProfileField::Phone,
        ProfileField::Address,
    ];

    /// The fields whose values differ from `old`, with their new values.
    pub fn changes_since(&self, old: &SharedProfile) -> ProfileChanges {
        Self::FIELDS
            .into_iter()
            .filter(|f| self.get(*f) != old.get(*f))
            .map(|f| (f, self.get(f).map(str::to_owned)))
            .collect()
    }

    /// Applies every change, or none when one does not fit its field.
    pub fn apply(&mut self, changes: &ProfileChanges) -> Result<(), InvalidField> {
        let mut next = self.clone();
        for (field, value) in changes {
            next.set(*field, value.as_deref())?;
        }
        *self = next;
        Ok(())
    }

    /// The profile as the linking rule compares it.
    pub fn for_matching(&self) -> matching::Profile {
        matching::Profile {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            personal_code: self.personal_code.clone(),
            email: self.email.as_ref().map(|e| e.as_str().to_lowercase()),
            phone: self.phone.as_ref().map(|p| normal_phone(p.as_str())),
            birth_date: None,
        }
    }
}

/// Digits and a leading `+`, so "+372 5123 4567" and "+37251234567" compare equal.
fn normal_phone(phone: &str) -> String {
    phone
        .chars()
        .enumerate()
        .filter(|(i, c)| c.is_ascii_digit() || (*i == 0 && *c == '+'))
        .map(|(_, c)| c)
        .collect()
}

/// A linked institution as ID tokens carry it (claim `institutions`) for the nav bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Institution {
    pub client_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Opens the institution's site signed in through single sign-on.
    pub url: String,
}

/// A language of the pages and letters, as a person chose it at a school. It travels with the
/// profile once the person changes it at a linked school, and is never one of the profile's
/// fields: a node keeps its account's language whether or not it is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Et,
    En,
    Ru,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Et => "et",
            Language::En => "en",
            Language::Ru => "ru",
        }
    }

    /// The code as stored (`et`, `en`, `ru`); anything else is no language of ours.
    pub fn parse(code: &str) -> Option<Language> {
        [Language::Et, Language::En, Language::Ru]
            .into_iter()
            .find(|l| l.as_str() == code)
    }
}

/// IdP → node: the person's profile as of `version`. A node applies it only if `version` is
/// newer than the one it last applied, so repeats and late arrivals are harmless.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileUpdate {
    pub sub: AccountId,
    pub version: i64,
    pub profile: SharedProfile,
    /// The institution where the change was made (id and name), for the account's data
    /// tracker; absent from older IdPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<ChangeOrigin>,
    /// The language the person last chose at one of their linked schools; absent while they
    /// have chosen none there (and from older IdPs). Carried with every update, so a late or
    /// reordered message never undoes a newer choice: the version decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
}

/// Where a synced change was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeOrigin {
    pub client_id: String,
    pub name: String,
}

/// Node → IdP: fields of an account that changed at the node, or the language its person
/// chose there (or both).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileChange {
    pub sub: AccountId,
    #[serde(default)]
    pub changes: ProfileChanges,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
}

/// The next version after `current`: also above the clock in milliseconds, so that a person
/// created later never counts below versions a node has already seen from an earlier person.
pub fn next_version(current: i64, now_millis: i64) -> i64 {
    (current + 1).max(now_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mari() -> SharedProfile {
        SharedProfile {
            first_name: "Mari".into(),
            last_name: "Maasikas".into(),
            personal_code: Some(PersonalCode::parse("49403136515").unwrap()),
            email: Some(Email::parse("mari@example.ee").unwrap()),
            phone: None,
            address: None,
        }
    }

    #[test]
    fn changes_name_only_what_differs_and_apply_back() {
        let old = mari();
        let new = SharedProfile {
            email: None,
            phone: Some(Phone::parse("+372 5123 4567").unwrap()),
            ..mari()
        };
        let changes = new.changes_since(&old);
        assert_eq!(
            changes.keys().copied().collect::<Vec<_>>(),
            vec![ProfileField::Email, ProfileField::Phone]
        );
        let mut copy = old.clone();
        copy.apply(&changes).unwrap();
        assert_eq!(copy, new);
        let mut bad = ProfileChanges::new();
        bad.insert(ProfileField::Phone, Some("+372 5000".into()));
        bad.insert(ProfileField::Email, Some(".malle@".into()));
        assert_eq!(copy.apply(&bad), Err(InvalidField(ProfileField::Email)));
        assert_eq!(copy, new, "nothing of a refused change is applied");
        assert!(new.changes_since(&new).is_empty());
    }

    #[test]
    fn changes_travel_as_json_by_field_name() {
        let mut changes = ProfileChanges::new();
        changes.insert(ProfileField::Email, None);
        changes.insert(ProfileField::LastName, Some("Tamm".into()));
        let json = serde_json::to_string(&changes).unwrap();
        assert_eq!(json, r#"{"last_name":"Tamm","email":null}"#);
        let back: ProfileChanges = serde_json::from_str(&json).unwrap();
        assert_eq!(back, changes);
    }

    #[test]
    fn the_language_travels_only_when_chosen_and_older_messages_still_read() {
        let old: ProfileChange =
            serde_json::from_str(r#"{"sub":"a1","changes":{"email":null}}"#).unwrap();
        assert_eq!(old.language, None);
        let chosen: ProfileChange =
            serde_json::from_str(r#"{"sub":"a1","language":"ru"}"#).unwrap();
        assert!(chosen.changes.is_empty());
        assert_eq!(chosen.language, Some(Language::Ru));
        assert!(
            serde_json::from_str::<ProfileChange>(r#"{"sub":"a1","language":"de"}"#).is_err(),
            "a language of none of the services is refused"
        );
        let update = ProfileUpdate {
            sub: "a1".into(),
            version: 3,
            profile: mari(),
            origin: None,
            language: None,
        };
        let json = serde_json::to_string(&update).unwrap();
        assert!(!json.contains("language"), "{json}");
        let update = ProfileUpdate {
            language: Some(Language::En),
            ..update
        };
        let back: ProfileUpdate =
            serde_json::from_str(&serde_json::to_string(&update).unwrap()).unwrap();
        assert_eq!(back.language, Some(Language::En));
        assert_eq!(Language::parse("ru"), Some(Language::Ru));
        assert_eq!(Language::parse("RU"), None);
    }

    #[test]
    fn versions_only_grow() {
        assert_eq!(next_version(5, 3), 6);
        assert_eq!(next_version(5, 1_000), 1_000);
    }

    #[test]
    fn phones_compare_by_digits() {
        let a = SharedProfile {
            phone: Some(Phone::parse("+372 5123 4567").unwrap()),
            ..mari()
        };
        assert_eq!(a.for_matching().phone.as_deref(), Some("+37251234567"));
    }
}
