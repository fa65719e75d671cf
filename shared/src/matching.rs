//! Whether two accounts belong to one person (DESIGN §4.4): the rule a link is made by.
//!
//! Personal codes must be equal where both accounts have one; first and last names must be equal
//! after normalisation; where either account lacks a personal code, at least one more attribute
//! (e-mail, phone, birth date) must be present on both and equal. Names or e-mail alone never
//! link two accounts: that is how account takeovers happen.

use time::Date;

use crate::PersonalCode;
use crate::names::same_name;

/// The personal data of one account, as compared.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub first_name: String,
    pub last_name: String,
    pub personal_code: Option<PersonalCode>,
    /// Lower-cased, as stored.
    pub email: Option<String>,
    /// Digits with an optional leading `+`, as stored.
    pub phone: Option<String>,
    pub birth_date: Option<Date>,
}

impl Profile {
    /// The birth date, given or read from the personal code.
    fn birth_date(&self) -> Option<Date> {
        self.birth_date
            .or_else(|| self.personal_code.as_ref().map(PersonalCode::birth_date))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    PersonalCode,
    FirstName,
    LastName,
    Email,
    Phone,
    BirthDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// One person. `corroborated_by` lists what matched besides the names.
    Match { corroborated_by: Vec<Field> },
    /// Not shown to be one person. `differing` names the fields that differ; `uncorroborated` is
    /// set when nothing besides the names could be compared.
    Mismatch {
        differing: Vec<Field>,
        uncorroborated: bool,
    },
}

/// Compares two optional values: Some(true) equal, Some(false) different, None not comparable.
fn compare<T: PartialEq>(a: Option<T>, b: Option<T>) -> Option<bool> {
    Some(a? == b?)
}

pub fn compare_profiles(a: &Profile, b: &Profile) -> Verdict {
    let mut differing = Vec::new();
    let mut corroborated_by = Vec::new();
    let codes = compare(a.personal_code.as_ref(), b.personal_code.as_ref());
    match codes {
        Some(true) => corroborated_by.push(Field::PersonalCode),
        Some(false) => differing.push(Field::PersonalCode),
        None => {}
    }
    if !same_name(&a.first_name, &b.first_name) {
        differing.push(Field::FirstName);
    }
    if !same_name(&a.last_name, &b.last_name) {
        differing.push(Field::LastName);
    }
    let others = [
        (
            Field::Email,
            compare(a.email.as_deref(), b.email.as_deref()),
        ),
        (
            Field::Phone,
            compare(a.phone.as_deref(), b.phone.as_deref()),
        ),
        (Field::BirthDate, compare(a.birth_date(), b.birth_date())),
    ];
    for (field, outcome) in others {
        match outcome {
            Some(true) => corroborated_by.push(field),
            // Differing contact data is reported but only decides when it is all there is.
            Some(false) => differing.push(field),
            None => {}
        }
    }
    let decisive_differences = differing
        .iter()
        .any(|f| matches!(f, Field::PersonalCode | Field::FirstName | Field::LastName));
    if decisive_differences {
        return Verdict::Mismatch {
            differing,
            uncorroborated: false,
        };
    }
    if codes == Some(true) {
        return Verdict::Match { corroborated_by };
    }
    // No pair of personal codes: one more attribute must match.
    if corroborated_by.is_empty() {
        let uncorroborated = differing.is_empty();
        return Verdict::Mismatch {
            differing,
            uncorroborated,
        };
    }
    Verdict::Match { corroborated_by }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mari() -> Profile {
        Profile {
            first_name: "Mari".into(),
            last_name: "Maasikas".into(),
            personal_code: Some(PersonalCode::parse("49403136515").unwrap()),
            email: Some("mari@example.ee".into()),
            phone: Some("+37251234567".into()),
            birth_date: None,
        }
    }

    #[test]
    fn equal_codes_and_names_match_whatever_else_differs() {
        let other = Profile {
            first_name: "MARI".into(),
            email: Some("mari@kool.ee".into()),
            phone: None,
            ..mari()
        };
        assert!(matches!(
            compare_profiles(&mari(), &other),
            Verdict::Match { .. }
        ));
    }

    #[test]
    fn a_different_code_or_name_links_nothing_and_is_named() {
        let code = Profile {
            personal_code: Some(PersonalCode::parse("37605030299").unwrap()),
            ..mari()
        };
        assert_eq!(
            compare_profiles(&mari(), &code),
            Verdict::Mismatch {
                differing: vec![Field::PersonalCode, Field::BirthDate],
                uncorroborated: false
            }
        );
        let name = Profile {
            last_name: "Maasikas-Tamm".into(),
            ..mari()
        };
        assert!(
            matches!(compare_profiles(&mari(), &name), Verdict::Mismatch { ref differing, .. } if differing == &[Field::LastName])
        );
        let letters = Profile {
            first_name: "Mäxi".into(),
            ..mari()
        };
        assert!(matches!(
            compare_profiles(&mari(), &letters),
            Verdict::Mismatch { .. }
        ));
    }

    #[test]
    fn without_a_pair_of_codes_one_more_attribute_must_match() {
        let no_code = Profile {
            personal_code: None,
            email: None,
            ..mari()
        };
        assert_eq!(
            compare_profiles(&mari(), &no_code),
            Verdict::Match {
                corroborated_by: vec![Field::Phone]
            }
        );
        let nothing_else = Profile {
            personal_code: None,
            email: None,
            phone: None,
            ..mari()
        };
        assert_eq!(
            compare_profiles(&mari(), &nothing_else),
            Verdict::Mismatch {
                differing: vec![],
                uncorroborated: true
            }
        );
        let wrong_phone = Profile {
            personal_code: None,
            email: None,
            phone: Some("+37255555555".into()),
            ..mari()
        };
        assert_eq!(
            compare_profiles(&mari(), &wrong_phone),
            Verdict::Mismatch {
                differing: vec![Field::Phone],
                uncorroborated: false
            }
        );
    }

    #[test]
    fn a_birth_date_corroborates_against_a_code() {
        let dated = Profile {
            personal_code: None,
            email: None,
            phone: None,
            birth_date: Some(Date::from_calendar_date(1994, time::Month::March, 13).unwrap()),
            ..mari()
        };
        assert_eq!(
            compare_profiles(&mari(), &dated),
            Verdict::Match {
                corroborated_by: vec![Field::BirthDate]
            }
        );
    }

    #[test]
    fn names_alone_never_link() {
        let a = Profile {
            first_name: "Kati".into(),
            last_name: "Kask".into(),
            ..Profile::default()
        };
        assert!(matches!(
            compare_profiles(&a, &a.clone()),
            Verdict::Mismatch {
                uncorroborated: true,
                ..
            }
        ));
    }
}
