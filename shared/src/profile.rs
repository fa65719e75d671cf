//! The personal data that linked accounts share (DESIGN §4.5) and the federation messages that
//! carry it. Roles and passwords are never part of it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::PersonalCode;
use crate::matching;

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

/// Personal data as stored at a node and at the IdP, already validated by whoever stored it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedProfile {
    pub first_name: String,
    pub last_name: String,
    pub personal_code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

/// New values of the fields that changed; `None` clears an optional field.
pub type ProfileChanges = BTreeMap<ProfileField, Option<String>>;

impl SharedProfile {
    pub fn get(&self, field: ProfileField) -> Option<&str> {
        match field {
            ProfileField::FirstName => Some(&self.first_name),
            ProfileField::LastName => Some(&self.last_name),
            ProfileField::PersonalCode => self.personal_code.as_deref(),
            ProfileField::Email => self.email.as_deref(),
            ProfileField::Phone => self.phone.as_deref(),
            ProfileField::Address => self.address.as_deref(),
        }
    }

    /// Sets one field; a name cannot be cleared, so `None` leaves it as it is.
    pub fn set(&mut self, field: ProfileField, value: Option<String>) {
        match field {
            ProfileField::FirstName => {
                if let Some(v) = value {
                    self.first_name = v;
                }
            }
            ProfileField::LastName => {
                if let Some(v) = value {
                    self.last_name = v;
                }
            }
            ProfileField::PersonalCode => self.personal_code = value,
            ProfileField::Email => self.email = value,
            ProfileField::Phone => self.phone = value,
            ProfileField::Address => self.address = value,
        }
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

    pub fn apply(&mut self, changes: &ProfileChanges) {
        for (field, value) in changes {
            self.set(*field, value.clone());
        }
    }

    /// The profile as the linking rule compares it.
    pub fn for_matching(&self) -> matching::Profile {
        matching::Profile {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            personal_code: self
                .personal_code
                .as_deref()
                .and_then(|c| PersonalCode::parse(c).ok()),
            email: self.email.as_deref().map(str::to_lowercase),
            phone: self.phone.as_deref().map(normal_phone),
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

/// IdP → node: the person's profile as of `version`. A node applies it only if `version` is
/// newer than the one it last applied, so repeats and late arrivals are harmless.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileUpdate {
    pub sub: String,
    pub version: i64,
    pub profile: SharedProfile,
}

/// Node → IdP: fields of an account that changed at the node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileChange {
    pub sub: String,
    pub changes: ProfileChanges,
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
            personal_code: Some("49403136515".into()),
            email: Some("mari@example.ee".into()),
            phone: None,
            address: None,
        }
    }

    #[test]
    fn changes_name_only_what_differs_and_apply_back() {
        let old = mari();
        let new = SharedProfile {
            email: None,
            phone: Some("+372 5123 4567".into()),
            ..mari()
        };
        let changes = new.changes_since(&old);
        assert_eq!(
            changes.keys().copied().collect::<Vec<_>>(),
            vec![ProfileField::Email, ProfileField::Phone]
        );
        let mut copy = old.clone();
        copy.apply(&changes);
        assert_eq!(copy, new);
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
    fn versions_only_grow() {
        assert_eq!(next_version(5, 3), 6);
        assert_eq!(next_version(5, 1_000), 1_000);
    }

    #[test]
    fn phones_compare_by_digits() {
        let a = SharedProfile {
            phone: Some("+372 5123 4567".into()),
            ..mari()
        };
        assert_eq!(a.for_matching().phone.as_deref(), Some("+37251234567"));
    }
}
