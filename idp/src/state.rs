//! What every handler can reach: the configuration and the services. No store is handed out;
//! a handler that needs data asks a service.

use std::sync::Arc;

use crate::config::Config;
use crate::service::authorize::Authorizer;
use crate::service::client_auth::ClientAuth;
use crate::service::clients::Registry;
use crate::service::eid::Eid;
use crate::service::health::Health;
use crate::service::keys::KeyRing;
use crate::service::linking::Linking;
use crate::service::logout::Logout;
use crate::service::node_requests::NodeRequests;
use crate::service::retention::Retention;
use crate::service::sessions::Sessions;
use crate::service::signin::SignIn;
use crate::service::tokens::Tokens;
use crate::service::upstream::Upstreams;

/// Cloned for every request (each extractor and middleware takes its own), so it is one `Arc`:
/// cloning the services themselves cost a silent-SSO hop half its CPU.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    /// Audit events (the person's data tracker).
    pub audit: shared::audit::Recorder,
    pub config: Arc<Config>,
    pub keys: KeyRing,
    pub clients: Registry,
    pub sessions: Sessions,
    pub client_auth: ClientAuth,
    pub authorizer: Authorizer,
    pub signin: SignIn,
    pub eid: Eid,
    pub upstreams: Upstreams,
    pub linking: Linking,
    pub logout: Logout,
    pub tokens: Tokens,
    pub node_requests: NodeRequests,
    pub health: Health,
    pub retention: Retention,
    pub my_data: crate::service::my_data::MyData,
    pub console: crate::service::console::Console,
    pub institutions: crate::service::institutions::Institutions,
    pub enrolment: crate::service::enrolment::Enrolment,
    pub operations: crate::service::operations::Operations,
}
