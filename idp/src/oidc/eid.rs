//! The rules an eID upstream's answer is held to, without I/O: where each claim profile keeps
//! the personal code and names, and that the level (`acr`) is at least the one asked for.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::PersonalCode;

use super::acr::Acr;

/// Where an upstream keeps the person's names and birth date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimProfile {
    /// TARA: `sub` is "EE" + personal code; names and birth date under `profile_attributes`.
    #[default]
    Tara,
    /// Plain OIDC: names at the top level; the code in `personal_code`, or `sub` ("EE" optional).
    Flat,
}

/// A person proven by an eID method.
#[derive(Debug, Clone)]
pub struct EidPerson {
    pub personal_code: PersonalCode,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub amr: String,
    pub acr: Acr,
}

/// Why an upstream answer was refused. The messages are for logs; people see a page.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the person cancelled")]
    Cancelled,
    #[error("the upstream answered: {0}")]
    UpstreamError(String),
    #[error("the ID token is not valid: {0}")]
    InvalidToken(String),
    #[error("the method or level is not the one asked for: {0}")]
    WrongMethod(String),
    #[error("no valid personal code: {0}")]
    NoPersonalCode(String),
    #[error("the upstream cannot be reached: {0}")]
    Unavailable(String),
}

/// The level of an answer, which must be at least the one asked for; an upstream that was
/// asked for none is taken at its word, and at `low` when it names none or an unknown one.
pub fn check_acr(asked: Option<Acr>, got: Option<&str>) -> Result<Acr, Refusal> {
    let level = got.and_then(Acr::parse);
    match asked {
        Some(asked) if !asked.satisfied_by(level) => {
            Err(Refusal::WrongMethod(format!("acr {got:?}, asked {asked}")))
        }
        _ => Ok(level.unwrap_or(Acr::Low)),
    }
}

/// The person an upstream's ID token names, by its claim profile.
pub fn person_of(
    profile: ClaimProfile,
    sub: &str,
    payload: &Value,
    amr: String,
    acr: Acr,
) -> Result<EidPerson, Refusal> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let (code, given, family) = match profile {
        ClaimProfile::Tara => {
            let attributes = payload.get("profile_attributes");
            (
                sub.strip_prefix("EE").map(str::to_owned),
                text(attributes.and_then(|a| a.get("given_name"))),
                text(attributes.and_then(|a| a.get("family_name"))),
            )
        }
        ClaimProfile::Flat => (
            text(payload.get("personal_code"))
                .or_else(|| Some(sub.strip_prefix("EE").unwrap_or(sub).to_owned())),
            text(payload.get("given_name")),
            text(payload.get("family_name")),
        ),
    };
    let code = code.ok_or_else(|| Refusal::NoPersonalCode(format!("sub {sub:?}")))?;
    let personal_code =
        PersonalCode::parse(&code).map_err(|e| Refusal::NoPersonalCode(format!("{e}")))?;
    Ok(EidPerson {
        personal_code,
        given_name: given,
        family_name: family,
        amr,
        acr,
    })
}

pub fn payload_of(compact: &str) -> Option<Value> {
    use base64::Engine;
    let payload = compact.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tara_carries_the_code_in_sub_and_names_under_profile_attributes() {
        let payload =
            json!({"profile_attributes": {"given_name": "MARI", "family_name": "MAASIKAS"}});
        let p = person_of(
            ClaimProfile::Tara,
            "EE49403136515",
            &payload,
            "idcard".into(),
            Acr::High,
        )
        .unwrap();
        assert_eq!(p.personal_code.as_str(), "49403136515");
        assert_eq!(p.given_name.as_deref(), Some("MARI"));
        assert!(
            matches!(
                person_of(
                    ClaimProfile::Tara,
                    "49403136515",
                    &payload,
                    "idcard".into(),
                    Acr::High
                ),
                Err(Refusal::NoPersonalCode(_))
            ),
            "TARA's sub must start with the country"
        );
        assert!(
            matches!(
                person_of(
                    ClaimProfile::Tara,
                    "EE49403136516",
                    &payload,
                    "idcard".into(),
                    Acr::High
                ),
                Err(Refusal::NoPersonalCode(_))
            ),
            "a wrong check digit is no code"
        );
    }

    #[test]
    fn the_flat_profile_takes_personal_code_first_then_sub() {
        let payload = json!({"personal_code": "37605030299", "given_name": "Jaan"});
        let p = person_of(
            ClaimProfile::Flat,
            "anything",
            &payload,
            "smartid".into(),
            Acr::Low,
        )
        .unwrap();
        assert_eq!(p.personal_code.as_str(), "37605030299");
        let p = person_of(
            ClaimProfile::Flat,
            "37605030299",
            &json!({}),
            "smartid".into(),
            Acr::Low,
        )
        .unwrap();
        assert_eq!(p.personal_code.as_str(), "37605030299");
        assert!(
            person_of(
                ClaimProfile::Flat,
                "EE37605030299",
                &json!({}),
                "x".into(),
                Acr::Low
            )
            .is_ok()
        );
    }

    #[test]
    fn a_lower_or_unknown_level_than_asked_is_refused() {
        assert_eq!(
            check_acr(Some(Acr::Substantial), Some("high")).unwrap(),
            Acr::High
        );
        assert_eq!(
            check_acr(Some(Acr::Substantial), Some("substantial")).unwrap(),
            Acr::Substantial
        );
        assert!(matches!(
            check_acr(Some(Acr::Substantial), Some("low")),
            Err(Refusal::WrongMethod(_))
        ));
        assert!(matches!(
            check_acr(Some(Acr::Low), None),
            Err(Refusal::WrongMethod(_))
        ));
        assert!(matches!(
            check_acr(Some(Acr::Low), Some("medium")),
            Err(Refusal::WrongMethod(_))
        ));
        assert_eq!(check_acr(None, None).unwrap(), Acr::Low);
        assert_eq!(check_acr(None, Some("high")).unwrap(), Acr::High);
    }
}
