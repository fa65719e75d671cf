//! The client registry in memory (authentication is in `client_auth`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;
use shared::jwt::{Alg, JwksCache};

use shared::ClientId;

use crate::store::{Database, clients};

pub struct Client {
    pub client_id: ClientId,
    pub name: String,
    pub logo_url: Option<String>,
    /// The hashes of the client's secrets, each good until its expiry (seconds) if it has one.
    pub secrets: Vec<(String, Option<i64>)>,
    pub jwks: Option<Arc<JwksCache>>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub federation_url: Option<String>,
    /// The node whose accounts sign in here: this client itself for a school's own site.
    pub node_id: ClientId,
    pub id_token_alg: Alg,
    /// Disabled by an operator: kept only so that its sessions' ends can still be announced.
    pub disabled: bool,
}

impl Client {
    /// Redirect URIs are compared exactly (RFC 9700).
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }

    pub fn allows_post_logout(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|u| u == uri)
    }
}

type ClientMap = Arc<HashMap<ClientId, Arc<Client>>>;

#[derive(Clone)]
pub struct Registry {
    clients: Arc<RwLock<ClientMap>>,
    http: reqwest::Client,
}

impl Registry {
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            clients: Arc::default(),
            http,
        }
    }

    pub async fn reload(&self, db: &Database) -> anyhow::Result<()> {
        let previous = self.snapshot();
        let mut map = HashMap::new();
        for row in clients::all(db).await? {
            // Keep a client's JWKS cache across reloads, so its keys are not fetched again.
            let jwks = row.jwks_uri.as_ref().map(|uri| {
                match previous
                    .get(row.client_id.as_str())
                    .and_then(|c| c.jwks.clone())
                {
                    Some(cache) if cache.url() == uri => cache,
                    _ => Arc::new(JwksCache::new(uri.clone(), self.http.clone())),
                }
            });
            let client = Client {
                redirect_uris: serde_json::from_str(&row.redirect_uris).unwrap_or_default(),
                post_logout_redirect_uris: serde_json::from_str(&row.post_logout_redirect_uris)
                    .unwrap_or_default(),
                id_token_alg: Alg::parse(&row.id_token_alg).unwrap_or(Alg::ES256),
                node_id: ClientId::new(
                    row.federation_node
                        .clone()
                        .unwrap_or_else(|| row.client_id.clone()),
                ),
                client_id: ClientId::new(row.client_id),
                name: row.name,
                logo_url: row.logo_url,
                secrets: row
                    .secret_hash
                    .into_iter()
                    .map(|h| (h, None))
                    .chain(
                        serde_json::from_str::<Vec<crate::config::SecretConfig>>(&row.secrets)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|s| (s.hash, s.expires_at.map(|t| t.unix_timestamp()))),
                    )
                    .collect(),
                jwks,
                backchannel_logout_uri: row.backchannel_logout_uri,
                frontchannel_logout_uri: row.frontchannel_logout_uri,
                federation_url: row.federation_url,
                disabled: row.disabled_at.is_some(),
            };
            map.insert(client.client_id.clone(), Arc::new(client));
        }
        *self.clients.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(map);
        Ok(())
    }

    fn snapshot(&self) -> ClientMap {
        self.clients
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A client that may be used: a disabled one is as unknown to every protocol step.
    pub fn get<Id: AsRef<str> + ?Sized>(&self, client_id: &Id) -> Option<Arc<Client>> {
        self.get_even_disabled(client_id).filter(|c| !c.disabled)
    }

    /// A client, disabled or not: where a session's end is announced to it.
    pub fn get_even_disabled<Id: AsRef<str> + ?Sized>(
        &self,
        client_id: &Id,
    ) -> Option<Arc<Client>> {
        self.snapshot().get(client_id.as_ref()).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Client>> {
        let mut all: Vec<_> = self
            .snapshot()
            .values()
            .filter(|c| !c.disabled)
            .cloned()
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

/// A claim from a JWT's payload, read without verification (to find whose keys to use).
pub fn unverified_claim(token: &str, name: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get(name)?.as_str().map(str::to_owned)
}
