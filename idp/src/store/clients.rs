//! The `clients` table: the registry of relying parties.

use super::{Database, Result, with_db};
use crate::config::ClientConfig;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub logo_url: Option<String>,
    pub secret_hash: Option<String>,
    /// JSON: `[{hash, expires_at}]`, the secrets that may expire.
    pub secrets: String,
    pub jwks_uri: Option<String>,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub federation_url: Option<String>,
    pub federation_node: Option<String>,
    pub id_token_alg: String,
}

/// Registers a client or replaces its registration.
pub async fn upsert(db: &Database, c: &ClientConfig, at: i64) -> Result<()> {
    let redirect_uris = serde_json::to_string(&c.redirect_uris).unwrap_or_else(|_| "[]".into());
    let post_logout =
        serde_json::to_string(&c.post_logout_redirect_uris).unwrap_or_else(|_| "[]".into());
    let secrets = serde_json::to_string(&c.secrets).unwrap_or_else(|_| "[]".into());
    let alg = c
        .id_token_alg
        .unwrap_or(shared::jwt::Alg::ES256)
        .name()
        .to_owned();
    with_db!(db, pool => sqlx::query(
        "INSERT INTO clients (client_id, name, logo_url, secret_hash, jwks_uri, redirect_uris, post_logout_redirect_uris, \
         backchannel_logout_uri, frontchannel_logout_uri, federation_url, id_token_alg, updated_at, federation_node, secrets) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (client_id) DO UPDATE SET name = $2, logo_url = $3, secret_hash = $4, jwks_uri = $5, \
         redirect_uris = $6, post_logout_redirect_uris = $7, backchannel_logout_uri = $8, frontchannel_logout_uri = $9, \
         federation_url = $10, id_token_alg = $11, updated_at = $12, federation_node = $13, secrets = $14",
    )
    .bind(&c.client_id)
    .bind(&c.name)
    .bind(&c.logo_url)
    .bind(&c.secret_hash)
    .bind(&c.jwks_uri)
    .bind(&redirect_uris)
    .bind(&post_logout)
    .bind(&c.backchannel_logout_uri)
    .bind(&c.frontchannel_logout_uri)
    .bind(&c.federation_url)
    .bind(&alg)
    .bind(at)
    .bind(&c.federation_node)
    .bind(&secrets)
    .execute(pool)
    .await
    .map(|_| ())?);
    Ok(())
}

pub async fn all(db: &Database) -> Result<Vec<ClientRow>> {
    with_db!(db, pool => sqlx::query_as(
        "SELECT client_id, name, logo_url, secret_hash, secrets, jwks_uri, redirect_uris, post_logout_redirect_uris, \
         backchannel_logout_uri, frontchannel_logout_uri, federation_url, federation_node, id_token_alg FROM clients ORDER BY client_id",
    )
    .fetch_all(pool)
    .await)
}

pub async fn delete(db: &Database, client_id: &str) -> Result<bool> {
    let n = with_db!(db, pool => sqlx::query("DELETE FROM clients WHERE client_id = $1").bind(client_id).execute(pool).await?.rows_affected());
    Ok(n == 1)
}
