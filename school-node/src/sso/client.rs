//! The node as a relying party of the IdP: discovery (cached), code flow with PKCE, state and
//! nonce, and full ID-token validation. The only user of `openidconnect` in the project.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use super::SsoConfig;

/// How long discovery metadata (and the IdP's keys with it) is trusted before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(300);

/// Discovery metadata with the RP-Initiated Logout endpoint, which core metadata lacks.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LogoutMetadata {
    end_session_endpoint: Option<String>,
}
impl openidconnect::AdditionalProviderMetadata for LogoutMetadata {}

type CoreProviderMetadata = openidconnect::ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// What the node keeps in the session between sending the person to the IdP and the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSso {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub next: String,
}

/// The linked institutions an ID token lists, for the nav bar.
pub type Institutions = Vec<shared::profile::Institution>;

/// A verified sign-in from the IdP.
#[derive(Debug, Clone)]
pub struct SsoSignIn {
    pub sub: String,
    pub sid: Option<String>,
    pub id_token: String,
    pub institutions: Institutions,
}

pub struct SsoClient {
    config: SsoConfig,
    redirect_uri: String,
    http: openidconnect::reqwest::Client,
    metadata: RwLock<Option<(Instant, CoreProviderMetadata)>>,
}

impl SsoClient {
    pub fn new(config: SsoConfig, site_url: &str) -> anyhow::Result<Self> {
        // No redirects: the openidconnect crate's advice against SSRF.
        let http = shared::http::client_builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            config,
            redirect_uri: format!("{site_url}/sso/callback"),
            http,
            metadata: RwLock::new(None),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    pub fn client_id(&self) -> &str {
        &self.config.client_id
    }

    async fn metadata(&self, refresh: bool) -> anyhow::Result<CoreProviderMetadata> {
        if !refresh
            && let Some((at, meta)) = self.metadata.read().await.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(meta.clone());
        }
        let issuer =
            IssuerUrl::new(self.config.issuer.clone()).context("the IdP issuer is not a URL")?;
        let meta = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .context("the IdP does not answer discovery")?;
        *self.metadata.write().await = Some((Instant::now(), meta.clone()));
        Ok(meta)
    }

    fn client(
        &self,
        meta: CoreProviderMetadata,
    ) -> anyhow::Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
    > {
        Ok(CoreClient::from_provider_metadata(
            meta,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(
                self.config.client_secret.expose().to_owned(),
            )),
        )
        .set_redirect_uri(RedirectUrl::new(self.redirect_uri.clone())?))
    }

    /// Where to send the person, and what to remember until they come back.
    /// `lang` is the person's language here, which the IdP's pages take over (`ui_locales`).
    pub async fn start(
        &self,
        next: &str,
        prompt_none: bool,
        lang: &str,
    ) -> anyhow::Result<(String, PendingSso)> {
        let client = self.client(self.metadata(false).await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .add_extra_param("ui_locales", lang.to_owned())
            .set_pkce_challenge(challenge);
        if prompt_none {
            request = request.add_prompt(openidconnect::core::CoreAuthPrompt::None);
        }
        let (url, state, nonce) = request.url();
        let pending = PendingSso {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            next: next.to_owned(),
        };
        Ok((url.to_string(), pending))
    }

    /// Exchanges the code and validates the ID token (signature, iss, aud, exp, nonce).
    pub async fn finish(&self, code: &str, pending: &PendingSso) -> anyhow::Result<SsoSignIn> {
        let client = self.client(self.metadata(false).await?)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| anyhow!("the code exchange failed: {e}"))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| anyhow!("the IdP sent no ID token"))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            Err(first) => {
                // The IdP may have rotated its keys since discovery: look again once.
                let fresh = self.client(self.metadata(true).await?)?;
                id_token
                    .claims(&fresh.id_token_verifier(), &nonce)
                    .map_err(|_| anyhow!("the ID token is not valid: {first}"))?
                    .clone()
            }
        };
        let compact = id_token.to_string();
        Ok(SsoSignIn {
            sub: claims.subject().as_str().to_owned(),
            sid: claim_of(&compact, "sid").and_then(|v| v.as_str().map(str::to_owned)),
            institutions: claim_of(&compact, "institutions")
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
            id_token: compact,
        })
    }

    /// The IdP's end-session URL for this node's sign-out.
    pub async fn end_session_url(&self, id_token: &str, post_logout: &str) -> Option<String> {
        let meta = self.metadata(false).await.ok()?;
        let end = meta.additional_metadata().end_session_endpoint.clone()?;
        let mut url = reqwest::Url::parse(&end).ok()?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("post_logout_redirect_uri", post_logout);
        Some(url.to_string())
    }

    pub async fn jwks_uri(&self) -> anyhow::Result<String> {
        Ok(self.metadata(false).await?.jwks_uri().url().to_string())
    }
}

/// A claim of a token whose signature was already checked.
fn claim_of(compact: &str, name: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let payload = compact.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get_mut(name)
        .map(serde_json::Value::take)
}
