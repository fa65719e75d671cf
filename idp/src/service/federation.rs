//! The IdP's calls to the school nodes' federation API (`shared::federation`): checking a
//! password, describing an account, and the bearer token of every call, including the profile
//! updates the delivery worker sends. Answers are signed JWTs checked against the node's keys.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::federation::{
    AccountOutcome, AccountQuery, AnswerClaims, CallClaims, FED_JWT, PasswordCheck,
    PasswordOutcome, SetPassword, SetPasswordOutcome, answer_body, check_token, path,
};
use shared::jwt::{Alg, Claims, to_claims};
use shared::profile::SharedProfile;
use shared::{AccountId, Clock};

use super::clients::Client;
use super::keys::KeyRing;
use super::random_token;

/// What a node answered about a username and password.
#[derive(Debug)]
pub enum CheckOutcome {
    SignedIn {
        sub: AccountId,
        claims: Claims,
    },
    Invalid,
    Ambiguous,
    Throttled {
        minutes: u64,
    },
    /// The node could not be asked or gave no valid answer.
    Unavailable,
}

/// An active account at a node, as its node describes it now.
#[derive(Debug, Clone)]
pub struct NodeAccount {
    pub sub: AccountId,
    /// What tokens may carry.
    pub claims: Claims,
    pub profile: SharedProfile,
    /// When the node last changed it (seconds), to prefer the newest value when linking.
    pub updated_at: i64,
}

/// The IdP as a caller of the nodes.
#[derive(Clone)]
pub struct NodeApi {
    pub http: reqwest::Client,
    pub keys: KeyRing,
    pub issuer: String,
    pub clock: Clock,
}

impl NodeApi {
    /// A fresh bearer JWT for one call to `client`'s node, and its claims.
    pub fn bearer(&self, client: &Client) -> anyhow::Result<(CallClaims, String)> {
        let call = CallClaims::new(
            &self.issuer,
            client.client_id.as_str(),
            self.clock.now(),
            random_token(),
        );
        let token = self.keys.sign(Alg::ES256, FED_JWT, &to_claims(&call)?)?;
        Ok((call, token))
    }

    pub fn node_url(client: &Client, path: &str) -> anyhow::Result<String> {
        let base = client
            .federation_url
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("the client has no federation_url"))?;
        Ok(format!("{}{path}", base.trim_end_matches('/')))
    }

    /// Sends `body` to the node and returns its signed answer, checked: signature against the
    /// node's keys, typ, iss, aud, freshness, and that it answers this very call.
    async fn ask<T: DeserializeOwned>(
        &self,
        client: &Client,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        let jwks = client
            .jwks
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the client has no jwks_uri"))?;
        let (call, bearer) = self.bearer(client)?;
        let mut request = self.http.post(Self::node_url(client, path)?);
        if let Some(id) = shared::observe::current_request_id() {
            request = request.header(shared::observe::REQUEST_ID_HEADER, id);
        }
        let answer = request
            .bearer_auth(bearer)
            .json(body)
            .timeout(Duration::from_secs(5))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let (header, claims) = jwks.verify(answer.trim()).await?;
        check_token(
            &header,
            &claims,
            client.client_id.as_str(),
            &self.issuer,
            self.clock.now(),
        )?;
        let answer: AnswerClaims<T> = answer_body(claims, &call.jti)?;
        Ok(answer.body)
    }

    /// Asks the node whose accounts sign in to `client` to check a password. Any failure to get
    /// a valid answer is `Unavailable`, logged here.
    pub async fn check_password(&self, node: &Client, check: &PasswordCheck) -> CheckOutcome {
        match self
            .ask::<PasswordOutcome>(node, path::PASSWORD_CHECK, check)
            .await
        {
            Ok(PasswordOutcome::Ok(account)) => CheckOutcome::SignedIn {
                claims: account.token_claims(),
                sub: account.sub,
            },
            Ok(PasswordOutcome::Invalid) => CheckOutcome::Invalid,
            Ok(PasswordOutcome::Ambiguous) => CheckOutcome::Ambiguous,
            Ok(PasswordOutcome::Throttled { minutes }) => CheckOutcome::Throttled { minutes },
            Err(e) => {
                tracing::warn!(client = %node.client_id, error = %format!("{e:#}"), "password check failed");
                CheckOutcome::Unavailable
            }
        }
    }

    /// Asks the node to set the password a person chose after a temporary one.
    pub async fn set_password(
        &self,
        node: &Client,
        request: &SetPassword,
    ) -> anyhow::Result<SetPasswordOutcome> {
        self.ask(node, path::SET_PASSWORD, request).await
    }

    /// The node's active account for `query`; None when the node has no active one.
    pub async fn lookup_account(
        &self,
        node: &Client,
        query: &AccountQuery,
    ) -> anyhow::Result<Option<NodeAccount>> {
        Ok(
            match self
                .ask::<AccountOutcome>(node, path::ACCOUNT, query)
                .await?
            {
                AccountOutcome::Ok(account) => Some(NodeAccount {
                    claims: account.token_claims(),
                    profile: account.profile(),
                    updated_at: account.updated_at,
                    sub: account.sub,
                }),
                AccountOutcome::Unknown => None,
            },
        )
    }

    /// The audit events of the node's account `sub` since `since`, for its person's page.
    pub async fn events_of(
        &self,
        node: &Client,
        sub: &shared::AccountId,
        since: i64,
    ) -> anyhow::Result<Vec<shared::audit::Event>> {
        let query = shared::federation::EventsQuery {
            sub: sub.clone(),
            since,
        };
        let answer: shared::federation::EventsAnswer = self.ask(node, path::EVENTS, &query).await?;
        Ok(answer.events)
    }
}
