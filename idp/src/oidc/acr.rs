//! Levels of assurance (`acr`), ordered: eIDAS low < substantial < high, as TARA names them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acr {
    Low,
    Substantial,
    High,
}

impl Acr {
    pub fn as_str(self) -> &'static str {
        match self {
            Acr::Low => "low",
            Acr::Substantial => "substantial",
            Acr::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Acr> {
        match s {
            "low" => Some(Acr::Low),
            "substantial" => Some(Acr::Substantial),
            "high" => Some(Acr::High),
            _ => None,
        }
    }

    /// Whether an answer at level `got` satisfies a request for at least `self`.
    pub fn satisfied_by(self, got: Option<Acr>) -> bool {
        got.is_some_and(|got| got >= self)
    }
}

impl std::fmt::Display for Acr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_a_lower_or_unknown_one_does_not_satisfy() {
        assert!(Acr::Low < Acr::Substantial && Acr::Substantial < Acr::High);
        assert!(Acr::Substantial.satisfied_by(Some(Acr::High)));
        assert!(Acr::Substantial.satisfied_by(Some(Acr::Substantial)));
        assert!(!Acr::Substantial.satisfied_by(Some(Acr::Low)));
        assert!(!Acr::Low.satisfied_by(None));
        assert_eq!(Acr::parse("high"), Some(Acr::High));
        assert_eq!(Acr::parse("HIGH"), None);
        assert_eq!(
            serde_json::to_string(&Acr::Substantial).unwrap(),
            r#""substantial""#
        );
        assert!(serde_json::from_str::<Acr>(r#""medium""#).is_err());
    }
}
