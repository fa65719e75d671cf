//! The IdP's HTTP layer: protocol endpoints (JSON and redirects) apart from the pages people see.

pub mod federation;
pub mod pages;
pub mod protocol;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(protocol::discovery::configuration),
        )
        .route("/jwks.json", get(protocol::discovery::jwks))
        .route(
            "/authorize",
            get(protocol::authorize::by_get).post(protocol::authorize::by_post),
        )
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route("/upstream/{id}/start", get(pages::eid::start))
        .route("/upstream/{id}/callback", get(pages::eid::callback))
        .route("/link", get(pages::link::choose))
        .route("/link/with", get(pages::link::with))
        .route("/link/review", get(pages::link::review))
        .route("/link/confirm", post(pages::link::confirm))
        .route("/token", post(protocol::token::token))
        .route(
            "/userinfo",
            get(protocol::userinfo::userinfo).post(protocol::userinfo::userinfo),
        )
        .route("/revoke", post(protocol::token::revoke))
        .route(
            "/logout",
            get(protocol::end_session::by_get).post(protocol::end_session::by_post),
        )
        .route(
            "/federation/v1/profile-changes",
            post(federation::profile_changes),
        )
        .route("/federation/v1/unlink", post(federation::unlink))
        .route("/federation/v1/sign-out", post(federation::sign_out))
        .route("/health", get(protocol::discovery::health))
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
