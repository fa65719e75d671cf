//! Identifiers that must not be mixed up: an institution's client id, an account's id at its
//! node (the `sub` it signs in as), and an IdP session's `sid`.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// A registered client of the IdP; for a school node, also the institution's id.
    ClientId
);
id_type!(
    /// An account's id at its own node: the `sub` that node's tokens carry.
    AccountId
);
id_type!(
    /// An IdP session's id as tokens and logout messages carry it (never the cookie).
    Sid
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn ids_travel_as_plain_strings_and_look_up_by_str() {
        let id = ClientId::from("jpk");
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""jpk""#);
        let mut map = BTreeMap::new();
        map.insert(id.clone(), 1);
        assert_eq!(map.get("jpk"), Some(&1));
        assert_eq!(format!("{id:?}"), r#"ClientId("jpk")"#);
        assert!(id == "jpk");
    }
}
