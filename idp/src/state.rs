//! What every handler can reach.

use std::sync::Arc;

use shared::ephemeral::Ephemeral;

use crate::config::Config;
use crate::service::clients::Registry;
use crate::service::delivery::Deliveries;
use crate::service::keys::KeyRing;
use crate::service::links::Links;
use crate::service::sessions::Sessions;
use crate::service::tokens::Tokens;
use crate::store::Database;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Database,
    pub ephemeral: Ephemeral,
    pub keys: KeyRing,
    pub clients: Registry,
    pub sessions: Sessions,
    pub tokens: Tokens,
    pub deliveries: Deliveries,
    pub links: Links,
    pub upstreams: crate::service::upstream::Upstreams,
    /// For server-to-server calls: no redirects followed (SSRF), short timeouts.
    pub http: reqwest::Client,
}
