//! The claims the IdP signs: ID tokens (OIDC Core §2), access tokens (RFC 9068 `at+jwt`), and
//! which of an account's claims each scope releases (OIDC Core §5.4).

use serde::{Deserialize, Serialize};
use shared::jwt::Claims;
use shared::{AccountId, ClientId, Sid};

use super::acr::Acr;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: AccountId,
    pub aud: ClientId,
    pub azp: ClientId,
    pub iat: i64,
    pub exp: i64,
    pub auth_time: i64,
    pub sid: Sid,
    pub amr: Vec<String>,
    pub acr: Acr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The account's claims that the granted scopes release.
    #[serde(flatten)]
    pub scoped: Claims,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: AccountId,
    /// The IdP itself: its userinfo endpoint is the only resource.
    pub aud: String,
    pub client_id: ClientId,
    pub scope: String,
    pub sid: Sid,
    /// The grant the token belongs to: revoking it ends the token.
    pub gid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// What a grant keeps of the sign-in: the account's claims, and how the person was
/// authenticated, so an ID token from a refresh grant tells the same `amr` and `acr`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantedClaims {
    #[serde(flatten)]
    pub account: Claims,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<Acr>,
}

/// The claims of the granted scopes, as userinfo and the ID token give them.
pub fn scoped_claims(scope: &str, claims: &Claims) -> Claims {
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    claims
        .iter()
        .filter(|(name, _)| match name.as_str() {
            "given_name" | "family_name" | "name" | "institutions" => scopes.contains(&"profile"),
            "email" => scopes.contains(&"email"),
            "phone_number" => scopes.contains(&"phone"),
            _ => false,
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn account() -> Claims {
        json!({
            "given_name": "Mari", "family_name": "Maasikas", "email": "mari@example.ee",
            "phone_number": "+3725123456", "institutions": [], "must_change_password": false,
            "personal_code": "49403136515"
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn names(c: &Claims) -> Vec<&str> {
        let mut v: Vec<&str> = c.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn each_scope_releases_its_own_claims_and_nothing_else() {
        assert!(scoped_claims("openid", &account()).is_empty());
        assert_eq!(
            names(&scoped_claims("openid profile", &account())),
            ["family_name", "given_name", "institutions"]
        );
        assert_eq!(names(&scoped_claims("openid email", &account())), ["email"]);
        assert_eq!(names(&scoped_claims("phone", &account())), ["phone_number"]);
        let all = scoped_claims("openid profile email phone offline_access", &account());
        assert!(!all.contains_key("personal_code") && !all.contains_key("must_change_password"));
    }

    #[test]
    fn a_grant_keeps_how_the_person_signed_in_apart_from_what_scopes_release() {
        let granted = GrantedClaims {
            account: account(),
            amr: Some(vec!["idcard".into()]),
            acr: Some(Acr::High),
        };
        let text = serde_json::to_string(&granted).unwrap();
        let back: GrantedClaims = serde_json::from_str(&text).unwrap();
        assert_eq!(back.acr, Some(Acr::High));
        assert_eq!(back.amr.as_deref(), Some(&["idcard".to_owned()][..]));
        assert!(!back.account.contains_key("acr") && !back.account.contains_key("amr"));
        let all: Claims = serde_json::from_str(&text).unwrap();
        assert!(!scoped_claims("openid profile email phone", &all).contains_key("amr"));
        let old: GrantedClaims = serde_json::from_str(r#"{"given_name":"Mari"}"#).unwrap();
        assert!(
            old.amr.is_none() && old.acr.is_none(),
            "grants stored before keep working"
        );
    }

    #[test]
    fn an_id_token_has_its_registered_claims_beside_the_scoped_ones() {
        let claims = IdTokenClaims {
            iss: "https://idp".into(),
            sub: "acc".into(),
            aud: "jpk".into(),
            azp: "jpk".into(),
            iat: 1,
            exp: 2,
            auth_time: 1,
            sid: "s".into(),
            amr: vec!["pwd".into()],
            acr: Acr::Low,
            nonce: None,
            scoped: scoped_claims("profile", &account()),
        };
        let map = shared::jwt::to_claims(&claims).unwrap();
        assert_eq!(map["acr"], "low");
        assert_eq!(map["given_name"], "Mari");
        assert!(!map.contains_key("nonce"));
    }
}
