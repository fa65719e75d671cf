//! The node's side of the federation API: the IdP asks whether a username and password are
//! right. The question must be a fresh JWT signed by the IdP for this node; the answer is a JWT
//! signed by the node.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use shared::ephemeral::Ephemeral;
use shared::jwt::{Claims, Expect, JwksCache, SigningKey, check_claims};

use shared::PersonalCode;

use crate::service::accounts::{self, Account};
use crate::service::passwords::Secret;
use crate::service::signin::{Outcome, SignIn};
use crate::store::Database;

#[derive(Deserialize)]
pub struct PasswordCheck {
    pub username: String,
    pub password: String,
    pub client_ip: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error("the request is not signed by the IdP for this node: {0}")]
    Unauthorized(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub struct FederationApi {
    pub issuer: String,
    pub client_id: String,
    pub idp_keys: JwksCache,
    pub key: Arc<SigningKey>,
    pub replay: Ephemeral,
}

impl FederationApi {
    /// Checks the IdP's bearer token: signature, typ, iss, aud, freshness, and a single use.
    pub async fn authorize(&self, bearer: &str) -> Result<Claims, FederationError> {
        let unauthorized = |e: &dyn std::fmt::Display| FederationError::Unauthorized(e.to_string());
        let (header, claims) = self
            .idp_keys
            .verify(bearer)
            .await
            .map_err(|e| unauthorized(&e))?;
        if header.token_type() != Some("fed+jwt") {
            return Err(unauthorized(&"not a federation token"));
        }
        let now = shared::jwt::now();
        check_claims(
            &claims,
            &Expect {
                issuer: &self.issuer,
                audience: &self.client_id,
                now,
                leeway: 30,
                allow_expired: false,
            },
        )
        .map_err(|e| unauthorized(&e))?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .ok_or_else(|| unauthorized(&"no jti"))?;
        if !self
            .replay
            .set_new(&format!("fed-jti:{jti}"), b"1", Duration::from_secs(180))
            .await?
        {
            return Err(unauthorized(&"the token was used before"));
        }
        Ok(claims)
    }

    /// Checks the password and signs the answer for the IdP.
    pub async fn password_check(
        &self,
        signin: &SignIn,
        request: &Claims,
        check: &PasswordCheck,
    ) -> anyhow::Result<String> {
        let from: IpAddr = check
            .client_ip
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let outcome = signin
            .sign_in(&check.username, &Secret::new(check.password.clone()), from)
            .await?;
        let mut answer = self.answer_to(request);
        let fields = answer.as_object_mut().expect("an object");
        match outcome {
            Outcome::SignedIn(account) => {
                fields.insert("outcome".into(), "ok".into());
                describe(fields, &account);
            }
            Outcome::Invalid => {
                fields.insert("outcome".into(), "invalid".into());
            }
            Outcome::AmbiguousName => {
                fields.insert("outcome".into(), "ambiguous".into());
            }
            Outcome::Throttled { minutes } => {
                fields.insert("outcome".into(), "throttled".into());
                fields.insert("minutes".into(), minutes.into());
            }
        }
        self.key.sign("fed+jwt", fields)
    }

    /// The signed answer's common claims, tied to the question by its jti.
    fn answer_to(&self, request: &Claims) -> Value {
        let now = shared::jwt::now();
        json!({
            "iss": self.client_id,
            "aud": self.issuer,
            "iat": now,
            "exp": now + 60,
            "jti": uuid::Uuid::new_v4().to_string(),
            "in_response_to": request.get("jti").cloned().unwrap_or(Value::Null),
        })
    }

    /// Describes an active account by id or personal code, for single sign-on through a link,
    /// for comparing accounts before linking, and for eID sign-in.
    pub async fn account(
        &self,
        db: &Database,
        request: &Claims,
        query: &AccountQuery,
    ) -> anyhow::Result<String> {
        let found = match (&query.sub, &query.personal_code) {
            (Some(sub), _) => accounts::find(db, sub).await?,
            (None, Some(code)) => match PersonalCode::parse(code) {
                Ok(code) => accounts::by_personal_code(db, &code).await?,
                Err(_) => None,
            },
            (None, None) => None,
        };
        let mut answer = self.answer_to(request);
        let fields = answer.as_object_mut().expect("an object");
        match found.filter(|a| !a.disabled) {
            Some(account) => {
                fields.insert("outcome".into(), "ok".into());
                describe(fields, &account);
            }
            None => {
                fields.insert("outcome".into(), "unknown".into());
            }
        }
        self.key.sign("fed+jwt", fields)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AccountQuery {
    pub sub: Option<String>,
    pub personal_code: Option<String>,
}

/// An account's claims for the IdP: what tokens may carry, and what linking compares.
fn describe(fields: &mut serde_json::Map<String, Value>, account: &Account) {
    fields.insert("sub".into(), account.id.clone().into());
    fields.insert("given_name".into(), account.first_name.clone().into());
    fields.insert("family_name".into(), account.last_name.clone().into());
    let optional = [
        ("email", &account.email),
        ("phone_number", &account.phone),
        ("personal_code", &account.personal_code),
        ("address", &account.address),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            fields.insert(name.into(), v.clone().into());
        }
    }
    fields.insert("updated_at".into(), account.updated_at.into());
    fields.insert(
        "must_change_password".into(),
        account.must_change_password.into(),
    );
}
