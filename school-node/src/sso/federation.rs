//! The node's side of the federation API (`shared::federation`): the IdP asks whether a
//! username and password are right, and asks for an account's data. The question must be a
//! fresh JWT signed by the IdP for this node; the answer is a JWT signed by the node.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use shared::ephemeral::Ephemeral;
use shared::federation::{
    AccountClaims, AccountOutcome, AccountQuery, AnswerClaims, CallClaims, FED_JWT, PasswordCheck,
    PasswordOutcome, REPLAY_SECONDS, SetPassword, SetPasswordOutcome, check_token,
};
use shared::jwt::{JwksCache, SigningKey, to_claims};

use crate::service::accounts::{self, Account};
use crate::service::signin::{Outcome, SignIn};
use crate::store::Database;

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
    pub async fn authorize(&self, bearer: &str) -> Result<CallClaims, FederationError> {
        let unauthorized = |e: &dyn std::fmt::Display| FederationError::Unauthorized(e.to_string());
        let (header, claims) = self
            .idp_keys
            .verify(bearer)
            .await
            .map_err(|e| unauthorized(&e))?;
        let call = check_token(
            &header,
            &claims,
            &self.issuer,
            &self.client_id,
            shared::jwt::now(),
        )
        .map_err(|e| unauthorized(&e))?;
        if !self
            .replay
            .set_new(
                &format!("fed-jti:{}", call.jti),
                b"1",
                Duration::from_secs(REPLAY_SECONDS),
            )
            .await?
        {
            return Err(unauthorized(&"the token was used before"));
        }
        Ok(call)
    }

    /// Signs an answer to `call` for the IdP.
    fn answer<T: serde::Serialize>(&self, call: &CallClaims, body: T) -> anyhow::Result<String> {
        let answer = AnswerClaims::new(
            call,
            shared::jwt::now(),
            uuid::Uuid::new_v4().to_string(),
            body,
        );
        self.key.sign(FED_JWT, &to_claims(&answer)?)
    }

    /// Checks the password and signs the answer for the IdP.
    pub async fn password_check(
        &self,
        signin: &SignIn,
        call: &CallClaims,
        check: &PasswordCheck,
    ) -> anyhow::Result<String> {
        let from: IpAddr = check
            .client_ip
            .parse()
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let outcome = match signin
            .sign_in(&check.username, &check.password, from)
            .await?
        {
            Outcome::SignedIn(account) => PasswordOutcome::Ok(describe(&account)),
            Outcome::Invalid => PasswordOutcome::Invalid,
            Outcome::AmbiguousName => PasswordOutcome::Ambiguous,
            Outcome::Throttled { minutes } => PasswordOutcome::Throttled { minutes },
        };
        self.answer(call, outcome)
    }

    /// Describes an active account by id or personal code, for single sign-on through a link,
    /// for comparing accounts before linking, and for eID sign-in.
    pub async fn account(
        &self,
        db: &Database,
        audit: &crate::service::audit::Audit,
        call: &CallClaims,
        query: &AccountQuery,
    ) -> anyhow::Result<String> {
        let found = match (&query.sub, &query.personal_code) {
            (Some(sub), _) => accounts::find(db, sub.as_str()).await?,
            (None, Some(code)) => accounts::by_personal_code(db, code).await?,
            (None, None) => None,
        };
        let outcome = match found.filter(|a| !a.disabled) {
            Some(account) => {
                // Another institution sees this person's data: it shows in their tracker.
                if let Some(reader) = &query.for_linking_with {
                    let actor = shared::audit::Actor::institution(
                        &reader.client_id,
                        Some(&reader.name),
                        Some("linking"),
                    );
                    let event = audit.event(shared::audit::kind::DATA_READ, actor, &account.id);
                    audit.record(event).await?;
                }
                AccountOutcome::Ok(describe(&account))
            }
            None => AccountOutcome::Unknown,
        };
        self.answer(call, outcome)
    }
}

/// An account as the IdP may know it: what tokens may carry, and what linking compares.
fn describe(account: &Account) -> AccountClaims {
    AccountClaims {
        sub: account.id.as_str().into(),
        given_name: account.first_name.clone(),
        family_name: account.last_name.clone(),
        email: account.email.clone(),
        phone_number: account.phone.clone(),
        personal_code: account.personal_code.clone(),
        address: account.address.clone(),
        updated_at: account.updated_at,
        must_change_password: account.must_change_password,
    }
}

impl FederationApi {
    /// Sets the password a person chose on the IdP's page after signing in with a temporary
    /// one; only a temporary password can be replaced this way. The account's other sessions
    /// end, as with any new password.
    pub async fn set_password(
        &self,
        db: &Database,
        sessions: &Ephemeral,
        audit: &crate::service::audit::Audit,
        call: &CallClaims,
        request: &SetPassword,
    ) -> anyhow::Result<String> {
        let account = accounts::find(db, request.sub.as_str())
            .await?
            .filter(|a| !a.disabled && a.must_change_password);
        let outcome = match account {
            None => SetPasswordOutcome::NotTemporary,
            Some(account) => {
                let (pw, again) = (&request.password, &request.password);
                let event = audit
                    .event(
                        shared::audit::kind::PASSWORD_SET,
                        audit.person(&account),
                        &account.id,
                    )
                    .detail("idp_page");
                match accounts::change_password(db, &account.id, pw, again, Some(&event)).await {
                    Ok(()) => {
                        super::logout::end_sessions_of_sub(sessions, &account.id).await?;
                        SetPasswordOutcome::Set
                    }
                    Err(crate::service::ServiceError::Invalid(_)) => SetPasswordOutcome::Refused {
                        problem: shared::secret::check_new_password(pw.expose(), again.expose())
                            .err()
                            .unwrap_or(shared::secret::PasswordProblem::TooShort),
                    },
                    Err(e) => return Err(anyhow::anyhow!("{e:?}")),
                }
            }
        };
        self.answer(call, outcome)
    }
}

/// How many of an account's events the IdP gets for the person's page.
const EVENTS_FOR_IDP: i64 = 500;

impl FederationApi {
    /// The account's audit events since `since`, for the person's "Minu andmed" at the IdP
    /// (the IdP asks only for an account of the person signed in there).
    pub async fn events(
        &self,
        audit: &crate::service::audit::Audit,
        call: &CallClaims,
        query: &shared::federation::EventsQuery,
    ) -> anyhow::Result<String> {
        let events = shared::audit::list(
            &audit.db,
            &shared::audit::Filter {
                subjects: vec![query.sub.as_str().to_owned()],
                since: Some(query.since),
                limit: EVENTS_FOR_IDP,
                ..shared::audit::Filter::default()
            },
        )
        .await?;
        self.answer(call, shared::federation::EventsAnswer { events })
    }
}
