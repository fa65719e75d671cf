//! What every request handler can reach: configuration, storage and the domain services.

use std::sync::Arc;

use shared::ephemeral::Ephemeral;

use crate::config::Config;
use crate::mail::Outbox;
use crate::service::recovery::Recovery;
use crate::service::signin::SignIn;
use crate::sso::client::SsoClient;
use crate::sso::federation::FederationApi;
use crate::sso::idp_api::IdpApi;
use crate::store::Database;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Database,
    pub ephemeral: Ephemeral,
    pub signin: SignIn,
    pub outbox: Outbox,
    pub recovery: Recovery,
    /// The IdP as seen by this node, when single sign-on is configured.
    pub sso: Option<Arc<SsoClient>>,
    pub federation: Option<Arc<FederationApi>>,
    /// Messages to the IdP (profile sync, sign-outs), when single sign-on is configured.
    pub idp_api: Option<IdpApi>,
    pub node_key: Arc<shared::jwt::SigningKey>,
    /// The institution's logo, when it has one: its media type and bytes.
    pub logo: Option<Arc<(&'static str, Vec<u8>)>>,
    /// Audit events of this institution's accounts.
    pub audit: crate::service::audit::Audit,
}

impl AppState {
    /// Sends profile changes stored a moment ago without waiting for the next round.
    pub fn profile_changed(&self) {
        if let Some(api) = &self.idp_api {
            api.wake.notify_one();
        }
    }

    pub fn sign_outs(&self) -> crate::service::sign_out::SignOuts<'_> {
        crate::service::sign_out::SignOuts {
            db: &self.db,
            ephemeral: &self.ephemeral,
            idp: self.idp_api.as_ref(),
        }
    }

    pub fn application_desk(&self) -> crate::service::applications::Desk<'_> {
        crate::service::applications::Desk {
            db: &self.db,
            outbox: &self.outbox,
            institution: &self.config.institution_name,
            site_url: &self.recovery.site_url,
        }
    }
}
