//! The `clients` table: the registry of relying parties.

use super::{Database, Result, with_db};
use crate::config::{ClientConfig, SecretConfig};

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
    /// `file` (the configuration's) or `console`.
    pub source: String,
    /// When an operator disabled it (Unix seconds).
    pub disabled_at: Option<i64>,
}

/// Where a registration comes from: the configuration rewrites its own and never another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    File,
    Console,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::File => "file",
            Source::Console => "console",
        }
    }
}

const COLUMNS: &str = "client_id, name, logo_url, secret_hash, secrets, jwks_uri, redirect_uris, post_logout_redirect_uris, \
     backchannel_logout_uri, frontchannel_logout_uri, federation_url, federation_node, id_token_alg, source, disabled_at";

struct Encoded {
    redirect_uris: String,
    post_logout: String,
    secrets: String,
    alg: String,
}

fn encode(c: &ClientConfig) -> Encoded {
    Encoded {
        redirect_uris: serde_json::to_string(&c.redirect_uris).unwrap_or_else(|_| "[]".into()),
        post_logout: serde_json::to_string(&c.post_logout_redirect_uris)
            .unwrap_or_else(|_| "[]".into()),
        secrets: serde_json::to_string(&c.secrets).unwrap_or_else(|_| "[]".into()),
        alg: c
            .id_token_alg
            .unwrap_or(shared::jwt::Alg::ES256)
            .name()
            .to_owned(),
    }
}

const INSERT: &str = "INSERT INTO clients (client_id, name, logo_url, secret_hash, jwks_uri, redirect_uris, post_logout_redirect_uris, \
     backchannel_logout_uri, frontchannel_logout_uri, federation_url, id_token_alg, updated_at, federation_node, secrets, source, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $12) ON CONFLICT (client_id) ";

/// Registers a client of the configuration or replaces its registration; a client the console
/// registered under the same id is left as it is (false).
pub async fn upsert(db: &Database, c: &ClientConfig, at: i64) -> Result<bool> {
    let sql = format!(
        "{INSERT} DO UPDATE SET name = $2, logo_url = $3, secret_hash = $4, jwks_uri = $5, \
         redirect_uris = $6, post_logout_redirect_uris = $7, backchannel_logout_uri = $8, frontchannel_logout_uri = $9, \
         federation_url = $10, id_token_alg = $11, updated_at = $12, federation_node = $13, secrets = $14 \
         WHERE clients.source = 'file'"
    );
    write(db, &sql, c, Source::File, at).await
}

/// Registers a new client from the console; false when the id is taken.
pub async fn insert(db: &Database, c: &ClientConfig, source: Source, at: i64) -> Result<bool> {
    write(db, &format!("{INSERT} DO NOTHING"), c, source, at).await
}

async fn write(
    db: &Database,
    sql: &str,
    c: &ClientConfig,
    source: Source,
    at: i64,
) -> Result<bool> {
    let e = encode(c);
    let n = with_db!(db, pool => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
    .bind(&c.client_id)
    .bind(&c.name)
    .bind(&c.logo_url)
    .bind(&c.secret_hash)
    .bind(&c.jwks_uri)
    .bind(&e.redirect_uris)
    .bind(&e.post_logout)
    .bind(&c.backchannel_logout_uri)
    .bind(&c.frontchannel_logout_uri)
    .bind(&c.federation_url)
    .bind(&e.alg)
    .bind(at)
    .bind(&c.federation_node)
    .bind(&e.secrets)
    .bind(source.as_str())
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Changes a console client's registration but its secrets; false when there is none.
pub async fn update_console(db: &Database, c: &ClientConfig, at: i64) -> Result<bool> {
    let e = encode(c);
    let n = with_db!(db, pool => sqlx::query(
        "UPDATE clients SET name = $2, logo_url = $3, jwks_uri = $4, redirect_uris = $5, post_logout_redirect_uris = $6, \
         backchannel_logout_uri = $7, frontchannel_logout_uri = $8, federation_url = $9, federation_node = $10, updated_at = $11 \
         WHERE client_id = $1 AND source = 'console'",
    )
    .bind(&c.client_id)
    .bind(&c.name)
    .bind(&c.logo_url)
    .bind(&c.jwks_uri)
    .bind(&e.redirect_uris)
    .bind(&e.post_logout)
    .bind(&c.backchannel_logout_uri)
    .bind(&c.frontchannel_logout_uri)
    .bind(&c.federation_url)
    .bind(&c.federation_node)
    .bind(at)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// Disables (at `at`) or enables (None) a console client.
pub async fn set_disabled(db: &Database, client_id: &str, at: Option<i64>) -> Result<bool> {
    let n = with_db!(db, pool => sqlx::query(
        "UPDATE clients SET disabled_at = $2 WHERE client_id = $1 AND source = 'console'",
    )
    .bind(client_id)
    .bind(at)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

/// A console client's current secret and the earlier ones still in force.
pub async fn set_secrets(
    db: &Database,
    client_id: &str,
    secret_hash: &str,
    others: &[SecretConfig],
    at: i64,
) -> Result<bool> {
    let others = serde_json::to_string(others).unwrap_or_else(|_| "[]".into());
    let n = with_db!(db, pool => sqlx::query(
        "UPDATE clients SET secret_hash = $2, secrets = $3, updated_at = $4 WHERE client_id = $1 AND source = 'console'",
    )
    .bind(client_id)
    .bind(secret_hash)
    .bind(&others)
    .bind(at)
    .execute(pool)
    .await?
    .rows_affected());
    Ok(n == 1)
}

pub async fn get(db: &Database, client_id: &str) -> Result<Option<ClientRow>> {
    let sql = format!("SELECT {COLUMNS} FROM clients WHERE client_id = $1");
    with_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(client_id)
        .fetch_optional(pool)
        .await)
}

/// A page of clients whose name or id holds `query` (any case), by name; and how many match.
pub async fn search(
    db: &Database,
    query: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ClientRow>, i64)> {
    let pattern = shared::db::contains_pattern(query);
    let filter = "WHERE lower(name) LIKE $1 ESCAPE '\\' OR lower(client_id) LIKE $1 ESCAPE '\\'";
    let rows_sql = format!(
        "SELECT {COLUMNS} FROM clients {filter} ORDER BY lower(name), client_id LIMIT $2 OFFSET $3"
    );
    let count_sql = format!("SELECT COUNT(*) FROM clients {filter}");
    with_db!(db, pool => {
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(rows_sql.clone()))
            .bind(&pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql.clone()))
            .bind(&pattern)
            .fetch_one(pool)
            .await?;
        Ok((rows, total))
    })
}

pub async fn all(db: &Database) -> Result<Vec<ClientRow>> {
    let sql = format!("SELECT {COLUMNS} FROM clients ORDER BY client_id");
    with_db!(db, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
    .fetch_all(pool)
    .await)
}

/// Unregisters a client the configuration no longer names (never a console client).
pub async fn delete_from_file(db: &Database, client_id: &str) -> Result<bool> {
    let n = with_db!(db, pool => sqlx::query("DELETE FROM clients WHERE client_id = $1 AND source = 'file'").bind(client_id).execute(pool).await?.rows_affected());
    Ok(n == 1)
}
