//! ID-card and Smart-ID through upstream OpenID Providers (DESIGN §4.8): the IdP as a relying
//! party of eID brokers such as the state's TARA. Discovery (cached), code flow with PKCE,
//! state and nonce, full ID-token validation by the openidconnect crate, then the checks that
//! the method (`amr`) and level (`acr`) are the ones asked for, so a tampered request cannot
//! downgrade them, and that `sub` carries a valid personal code. Each upstream has its own
//! redirect URI, so an answer cannot be passed off as another upstream's (mix-up).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreJsonWebKeySet, CoreProviderMetadata,
};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::Secret;
use tokio::sync::RwLock;

use crate::oidc::acr::Acr;
pub use crate::oidc::eid::{ClaimProfile, EidPerson, Refusal};
use crate::oidc::eid::{check_acr, payload_of, person_of};

const METADATA_TTL: Duration = Duration::from_secs(300);

/// One upstream provider and the method it is asked for: one button on the sign-in page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Short name: the button's and the redirect URI's (`<issuer>/upstream/<id>/callback`).
    pub id: String,
    pub label_et: String,
    pub label_en: String,
    pub issuer: String,
    /// Where the metadata are, when not at `<issuer>/.well-known/openid-configuration` (TARA
    /// publishes them under `/oidc/` while its `iss` is the host).
    pub discovery_url: Option<String>,
    pub client_id: String,
    #[serde(skip_serializing)]
    pub client_secret: Secret,
    /// A file holding the client secret instead (a container's secret, say); read at start.
    pub client_secret_file: Option<std::path::PathBuf>,
    /// Scopes besides `openid`; TARA picks the method by scope (`idcard`, `smartid`, `mid`).
    pub scopes: Vec<String>,
    /// The `amr` value the answer must carry.
    pub amr: String,
    /// The least `acr` (low, substantial, high) asked for and required.
    pub acr: Option<Acr>,
    pub claims: ClaimProfile,
}

/// What the IdP remembers between sending the person upstream and the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingUpstream {
    pub upstream: String,
    /// The sign-in waiting for this (its id at `/login?r=`).
    pub login: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// The browser that was sent upstream (`Browser::binding`): only it may come back.
    #[serde(default)]
    pub browser: String,
    /// An operator signing in to the console, not a sign-in to an institution.
    #[serde(default)]
    pub console: bool,
}

pub struct Upstream {
    pub config: UpstreamConfig,
    redirect_uri: String,
    http: reqwest::Client,
    metadata: RwLock<Option<(Instant, Metadata)>>,
}

/// What discovery told of an upstream: the metadata the openidconnect crate reads, and
/// whether its authorization responses carry `iss` (RFC 9207), which the crate does not read.
#[derive(Clone)]
struct Metadata {
    provider: CoreProviderMetadata,
    iss_in_response: bool,
}

type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

impl Upstream {
    pub fn new(config: UpstreamConfig, issuer: &str) -> anyhow::Result<Self> {
        let http = shared::http::client_builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            redirect_uri: format!(
                "{}/upstream/{}/callback",
                issuer.trim_end_matches('/'),
                config.id
            ),
            config,
            http,
            metadata: RwLock::new(None),
        })
    }

    pub fn label(&self, lang: &str) -> &str {
        if lang == "en" && !self.config.label_en.is_empty() {
            &self.config.label_en
        } else {
            &self.config.label_et
        }
    }

    async fn discovered(&self, refresh: bool) -> anyhow::Result<Metadata> {
        if !refresh
            && let Some((at, meta)) = self.metadata.read().await.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(meta.clone());
        }
        let url = self.config.discovery_url.clone().unwrap_or_else(|| {
            format!(
                "{}/.well-known/openid-configuration",
                self.config.issuer.trim_end_matches('/')
            )
        });
        let raw: Value = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("the upstream does not answer discovery at {url}"))?
            .json()
            .await
            .context("the upstream's metadata are not JSON")?;
        let provider: CoreProviderMetadata =
            serde_json::from_value(raw.clone()).context("the upstream's metadata do not parse")?;
        anyhow::ensure!(
            provider.issuer().as_str() == self.config.issuer,
            "the upstream's metadata name the issuer {}, not {}",
            provider.issuer().as_str(),
            self.config.issuer
        );
        let jwks = CoreJsonWebKeySet::fetch_async(provider.jwks_uri(), &self.http)
            .await
            .context("the upstream's keys cannot be fetched")?;
        let provider = provider.set_jwks(jwks);
        let meta = Metadata {
            provider,
            iss_in_response: raw
                .get("authorization_response_iss_parameter_supported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        *self.metadata.write().await = Some((Instant::now(), meta.clone()));
        Ok(meta)
    }

    async fn metadata(&self, refresh: bool) -> anyhow::Result<CoreProviderMetadata> {
        Ok(self.discovered(refresh).await?.provider)
    }

    /// Whether this upstream promises `iss` in its authorization responses (RFC 9207), so an
    /// answer without it is refused.
    pub async fn requires_iss(&self) -> anyhow::Result<bool> {
        Ok(self.discovered(false).await?.iss_in_response)
    }

    fn client(&self, meta: CoreProviderMetadata) -> anyhow::Result<Client> {
        Ok(CoreClient::from_provider_metadata(
            meta,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(
                self.config.client_secret.expose().to_owned(),
            )),
        )
        .set_redirect_uri(RedirectUrl::new(self.redirect_uri.clone())?))
    }

    /// The upstream's authorization URL, its `state`, and what to keep until the callback.
    /// `lang` goes along as `ui_locales` (TARA shows its pages in et, en or ru).
    pub async fn start(
        &self,
        login: &str,
        browser: &str,
        lang: &str,
    ) -> anyhow::Result<(String, String, PendingUpstream)> {
        let client = self.client(self.metadata(false).await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .add_extra_param("ui_locales", lang.to_owned());
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(acr) = self.config.acr {
            request = request
                .add_auth_context_value(AuthenticationContextClass::new(acr.as_str().to_owned()));
        }
        let (url, state, nonce) = request.url();
        let pending = PendingUpstream {
            upstream: self.config.id.clone(),
            login: login.to_owned(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            browser: browser.to_owned(),
            console: false,
        };
        Ok((url.to_string(), state.secret().clone(), pending))
    }

    /// Exchanges the code and checks everything about the answer.
    pub async fn finish(
        &self,
        code: &str,
        pending: &PendingUpstream,
    ) -> Result<EidPerson, Refusal> {
        let unavailable = |e: &dyn std::fmt::Display| Refusal::Unavailable(e.to_string());
        let meta = self.metadata(false).await.map_err(|e| unavailable(&e))?;
        let client = self.client(meta).map_err(|e| unavailable(&e))?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| unavailable(&e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| Refusal::UpstreamError(format!("the code exchange failed: {e}")))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| Refusal::InvalidToken("no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims: CoreIdTokenClaims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(c) => c.clone(),
            Err(first) => {
                // The upstream may have rotated its keys since discovery: look again once.
                let meta = self.metadata(true).await.map_err(|e| unavailable(&e))?;
                let fresh = self.client(meta).map_err(|e| unavailable(&e))?;
                id_token
                    .claims(&fresh.id_token_verifier(), &nonce)
                    .map_err(|_| Refusal::InvalidToken(first.to_string()))?
                    .clone()
            }
        };
        let amr: Vec<String> = claims
            .auth_method_refs()
            .map(|v| v.iter().map(|a| a.as_str().to_owned()).collect())
            .unwrap_or_default();
        if !amr.iter().any(|a| a == &self.config.amr) {
            return Err(Refusal::WrongMethod(format!(
                "amr {amr:?}, asked {}",
                self.config.amr
            )));
        }
        let got = claims.auth_context_ref().map(|a| a.as_str().to_owned());
        let acr = check_acr(self.config.acr, got.as_deref())?;
        // The token's signature is checked: its other claims can be read as they are.
        let payload = payload_of(&id_token.to_string())
            .ok_or_else(|| Refusal::InvalidToken("unreadable payload".into()))?;
        self.person(
            claims.subject().as_str(),
            &payload,
            self.config.amr.clone(),
            acr,
        )
    }

    fn person(
        &self,
        sub: &str,
        payload: &Value,
        amr: String,
        acr: Acr,
    ) -> Result<EidPerson, Refusal> {
        person_of(self.config.claims, sub, payload, amr, acr)
    }
}

/// The configured upstreams by id, in the order their buttons appear.
#[derive(Clone, Default)]
pub struct Upstreams {
    ordered: Vec<Arc<Upstream>>,
    by_id: HashMap<String, Arc<Upstream>>,
}

impl Upstreams {
    pub fn new(configs: &[UpstreamConfig], issuer: &str) -> anyhow::Result<Self> {
        let mut out = Upstreams::default();
        for config in configs {
            let upstream = Arc::new(Upstream::new(config.clone(), issuer)?);
            out.by_id.insert(config.id.clone(), upstream.clone());
            out.ordered.push(upstream);
        }
        Ok(out)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Upstream>> {
        self.by_id.get(id).cloned()
    }

    pub fn all(&self) -> &[Arc<Upstream>] {
        &self.ordered
    }
}
