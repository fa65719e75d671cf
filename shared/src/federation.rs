//! The federation API, written once for both sides: the paths, the token types, the bearer and
//! answer claims, and every request and answer. The IdP asks a node to check a password, to
//! describe an account and to apply a profile; a node tells the IdP of profile changes, asks it
//! to remove a link and to sign a person out everywhere. Every call carries a fresh JWT signed
//! by the caller (`typ` [`FED_JWT`]); a node's answers to the IdP are signed JWTs too.

use josekit::jws::JwsHeader;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{AccountId, ClientId, Sid};
use crate::jwt::{Claims, Expect, check_claims};
use crate::profile::SharedProfile;
use crate::secret::Secret;
use crate::{Email, PersonalCode, Phone};

/// Where each call goes, under the callee's base URL.
pub mod path {
    /// The node's public keys.
    pub const JWKS: &str = "/federation/jwks.json";
    /// IdP → node.
    pub const PASSWORD_CHECK: &str = "/federation/v1/password-check";
    pub const ACCOUNT: &str = "/federation/v1/account";
    pub const PROFILE: &str = "/federation/v1/profile";
    pub const SET_PASSWORD: &str = "/federation/v1/set-password";
    pub const INSTITUTIONS: &str = "/federation/v1/institutions";
    /// The account's audit events, for the person's "Minu andmed" at the IdP.
    pub const EVENTS: &str = "/federation/v1/events";
    /// Node → IdP.
    pub const PROFILE_CHANGES: &str = "/federation/v1/profile-changes";
    pub const UNLINK: &str = "/federation/v1/unlink";
    pub const SIGN_OUT: &str = "/federation/v1/sign-out";
    pub const PASSWORD_CHANGED: &str = "/federation/v1/password-changed";
}

/// The `typ` of a call's bearer token and of a signed answer.
pub const FED_JWT: &str = "fed+jwt";
/// The `typ` of a back-channel logout token (Back-Channel Logout 1.0 §2.4).
pub const LOGOUT_JWT: &str = "logout+jwt";
/// The event a logout token carries.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a call's token and a signed answer are good for.
pub const TOKEN_SECONDS: i64 = 60;
/// Clock skew allowed between the two sides.
pub const LEEWAY_SECONDS: i64 = 30;
/// How long a call's `jti` is remembered against replay: past any token's life.
pub const REPLAY_SECONDS: u64 = 180;

/// The claims of a call's bearer token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl CallClaims {
    pub fn new(from: &str, to: &str, now: i64, jti: String) -> Self {
        Self {
            iss: from.to_owned(),
            aud: to.to_owned(),
            iat: now,
            exp: now + TOKEN_SECONDS,
            jti,
        }
    }
}

/// A signed answer: who answers whom, to which call (`in_response_to` is the call's jti).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswerClaims<T> {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub in_response_to: String,
    #[serde(flatten)]
    pub body: T,
}

impl<T> AnswerClaims<T> {
    pub fn new(call: &CallClaims, now: i64, jti: String, body: T) -> Self {
        Self {
            iss: call.aud.clone(),
            aud: call.iss.clone(),
            iat: now,
            exp: now + TOKEN_SECONDS,
            jti,
            in_response_to: call.jti.clone(),
            body,
        }
    }
}

/// Checks a federation token's type, issuer, audience and freshness; returns its claims as a
/// call (for an answer, its envelope).
pub fn check_token(
    header: &JwsHeader,
    claims: &Claims,
    from: &str,
    to: &str,
    now: i64,
) -> anyhow::Result<CallClaims> {
    anyhow::ensure!(
        header.token_type() == Some(FED_JWT),
        "not a federation token"
    );
    check_claims(
        claims,
        &Expect {
            issuer: from,
            audience: to,
            now,
            leeway: LEEWAY_SECONDS,
            allow_expired: false,
        },
    )?;
    Ok(serde_json::from_value(Value::Object(claims.clone()))?)
}

/// The body of an answer whose envelope was checked, if it answers the call `jti`.
pub fn answer_body<T: DeserializeOwned>(claims: Claims, jti: &str) -> anyhow::Result<T> {
    anyhow::ensure!(
        claims.get("in_response_to").and_then(Value::as_str) == Some(jti),
        "the answer is for another question"
    );
    Ok(serde_json::from_value(Value::Object(claims))?)
}

/// IdP → node: is this the password of this username? `client_ip` is the person's address, for
/// the node's throttling.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordCheck {
    pub username: String,
    pub password: Secret,
    pub client_ip: String,
}

/// The node's answer to a password check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PasswordOutcome {
    Ok(AccountClaims),
    Invalid,
    Ambiguous,
    Throttled { minutes: u64 },
}

/// IdP → node: which account to describe, by its id or by personal code (an eID sign-in).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<AccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_code: Option<PersonalCode>,
    /// Read to compare with the person's account at this institution before linking: the
    /// node records it in the account's data tracker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_linking_with: Option<crate::profile::ChangeOrigin>,
}

/// IdP → node: the audit events of account `sub` (the person asked, signed in at the IdP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsQuery {
    pub sub: AccountId,
    /// From this time on (Unix milliseconds).
    pub since: i64,
}

/// The node's answer: the account's events, newest first (at most a few hundred).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsAnswer {
    pub events: Vec<crate::audit::Event>,
}

/// The node's answer to an account query: only an active account is described.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AccountOutcome {
    Ok(AccountClaims),
    Unknown,
}

/// An active account as its node describes it: what tokens may carry and what linking compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountClaims {
    pub sub: AccountId,
    pub given_name: String,
    pub family_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<Phone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_code: Option<PersonalCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// When the node last changed the account (seconds), to prefer the newest when linking.
    #[serde(default)]
    pub updated_at: i64,
    #[serde(default)]
    pub must_change_password: bool,
}

impl AccountClaims {
    pub fn profile(&self) -> SharedProfile {
        SharedProfile {
            first_name: self.given_name.clone(),
            last_name: self.family_name.clone(),
            personal_code: self.personal_code.clone(),
            email: self.email.clone(),
            phone: self.phone_number.clone(),
            address: self.address.clone(),
        }
    }

    /// What ID tokens and userinfo may tell of the account (by scope, later).
    pub fn token_claims(&self) -> Claims {
        let mut out = Claims::new();
        out.insert("given_name".into(), self.given_name.clone().into());
        out.insert("family_name".into(), self.family_name.clone().into());
        if let Some(email) = &self.email {
            out.insert("email".into(), email.as_str().into());
        }
        if let Some(phone) = &self.phone_number {
            out.insert("phone_number".into(), phone.as_str().into());
        }
        out.insert(
            "must_change_password".into(),
            self.must_change_password.into(),
        );
        out
    }
}

/// IdP → node: the person signed in with a temporary password and chose this one on the IdP's
/// page. The node sets it only while the account's password is temporary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetPassword {
    pub sub: AccountId,
    pub password: Secret,
}

/// The node's (signed) answer to `SetPassword`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SetPasswordOutcome {
    Set,
    Refused {
        problem: crate::secret::PasswordProblem,
    },
    /// The account has no temporary password (or is gone): nothing was set.
    NotTemporary,
}

/// Node → IdP: the answer to a profile change (`ProfileChange` in `profile`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileChangeAnswer {
    pub linked: bool,
    pub version: Option<i64>,
}

/// IdP → node: the answer to a profile update (`ProfileUpdate` in `profile`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileUpdateAnswer {
    pub applied: bool,
}

/// IdP → node: the institutions account `sub` is now linked with (a link was made or removed),
/// for the nav bar of its sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstitutionsUpdate {
    pub sub: AccountId,
    pub institutions: Vec<crate::profile::Institution>,
}

/// Node → IdP: remove the link from account `sub` to its account at `client_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnlinkRequest {
    pub sub: AccountId,
    pub client_id: ClientId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnlinkAnswer {
    pub removed: bool,
}

/// Node → IdP: end every session of the person with account `sub`, everywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignOutRequest {
    pub sub: AccountId,
    /// When the sign-out was asked for (Unix seconds). A message that arrives late (it waited
    /// in the node's outbox) ends only the sessions authenticated by then, never a later
    /// sign-in. Absent from older nodes: the time it arrives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_at: Option<i64>,
}

/// Node → IdP: the account's password was set anew; end the IdP sessions that hold it, but the
/// one of the person who set it (`keep_sid`), and tell their other institutions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordChanged {
    pub sub: AccountId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_sid: Option<Sid>,
    /// When the password was set (Unix seconds), as for [`SignOutRequest::made_at`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_at: Option<i64>,
}

/// The answer to a sign-out or a password change: how many IdP sessions ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignOutAnswer {
    pub sessions: u64,
}

/// A refused call: an OAuth-style error code, and a description that names no cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// The claims of a back-channel logout token (Back-Channel Logout 1.0 §2.4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogoutTokenClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Sid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<AccountId>,
    pub events: serde_json::Map<String, Value>,
}

impl LogoutTokenClaims {
    pub fn new(
        issuer: &str,
        audience: &str,
        now: i64,
        jti: String,
        sid: Sid,
        sub: AccountId,
    ) -> Self {
        let mut events = serde_json::Map::new();
        events.insert(
            BACKCHANNEL_LOGOUT_EVENT.into(),
            Value::Object(Default::default()),
        );
        Self {
            iss: issuer.to_owned(),
            aud: audience.to_owned(),
            iat: now,
            exp: now + 2 * TOKEN_SECONDS,
            jti,
            sid: Some(sid),
            sub: Some(sub),
            events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::to_claims;

    fn mari() -> AccountClaims {
        AccountClaims {
            sub: "acc-1".into(),
            given_name: "Mari".into(),
            family_name: "Maasikas".into(),
            email: Some(Email::parse("mari@example.ee").unwrap()),
            phone_number: None,
            personal_code: Some(PersonalCode::parse("49403136515").unwrap()),
            address: None,
            updated_at: 5,
            must_change_password: false,
        }
    }

    #[test]
    fn an_answer_carries_its_envelope_and_outcome_side_by_side() {
        let call = CallClaims::new("https://idp", "jpk", 100, "q1".into());
        let answer = AnswerClaims::new(&call, 101, "a1".into(), PasswordOutcome::Ok(mari()));
        let claims = to_claims(&answer).unwrap();
        assert_eq!(claims["outcome"], "ok");
        assert_eq!(claims["iss"], "jpk");
        assert_eq!(claims["aud"], "https://idp");
        assert_eq!(claims["in_response_to"], "q1");
        assert_eq!(claims["personal_code"], "49403136515");
        let back: PasswordOutcome = answer_body(claims.clone(), "q1").unwrap();
        assert_eq!(back, PasswordOutcome::Ok(mari()));
        assert!(answer_body::<PasswordOutcome>(claims, "other").is_err());

        let throttled = to_claims(&AnswerClaims::new(
            &call,
            101,
            "a2".into(),
            PasswordOutcome::Throttled { minutes: 15 },
        ))
        .unwrap();
        assert_eq!(throttled["outcome"], "throttled");
        assert_eq!(
            answer_body::<PasswordOutcome>(throttled, "q1").unwrap(),
            PasswordOutcome::Throttled { minutes: 15 }
        );
    }

    #[test]
    fn an_account_answer_with_a_bad_code_or_outcome_does_not_parse() {
        let mut claims = to_claims(&AccountOutcome::Ok(mari())).unwrap();
        claims.insert("in_response_to".into(), "q".into());
        claims.insert("personal_code".into(), "12345678901".into());
        assert!(answer_body::<AccountOutcome>(claims.clone(), "q").is_err());
        claims.insert("outcome".into(), "maybe".into());
        assert!(answer_body::<AccountOutcome>(claims, "q").is_err());
    }

    #[test]
    fn token_claims_leave_out_what_tokens_must_not_carry() {
        let claims = mari().token_claims();
        assert!(!claims.contains_key("personal_code"));
        assert!(!claims.contains_key("address"));
        assert_eq!(claims["email"], "mari@example.ee");
        assert_eq!(
            mari().profile().personal_code.unwrap().as_str(),
            "49403136515"
        );
    }

    #[test]
    fn a_password_never_shows_in_debug() {
        let check = PasswordCheck {
            username: "mari".into(),
            password: Secret::new("demo-parool"),
            client_ip: "127.0.0.1".into(),
        };
        assert!(!format!("{check:?}").contains("demo-parool"));
        let json = serde_json::to_string(&check).unwrap();
        assert!(json.contains("demo-parool"), "the wire carries it");
    }
}
