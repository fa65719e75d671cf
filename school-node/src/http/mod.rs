//! The HTTP layer: routes, the session and error-page middleware. Handlers stay thin and call
//! the domain services.

pub mod extract;
pub mod federation;
pub mod pages;
pub mod render;
pub mod sso;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use time::Duration;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::error::{ErrorKind, ErrorMark};
use crate::i18n::Locale;
use crate::state::AppState;
use render::Base;
use shared::federation::path;
use shared::session_store::EphemeralSessionStore;

pub fn router(state: AppState) -> Router {
    let config = &state.config;
    let sessions = SessionManagerLayer::new(EphemeralSessionStore::new(state.ephemeral.clone()))
        .with_name(format!("{}_session", config.institution_id))
        .with_secure(config.secure_cookies())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(Duration::minutes(
            config.session_idle_minutes,
        )));
    let form_limit = config.max_form_bytes;

    Router::new()
        .route("/", get(pages::home::show))
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route("/logout", post(pages::login::logout))
        .route(
            "/profile",
            get(pages::profile::show).post(pages::profile::save),
        )
        .route("/profile/password", post(pages::profile::save_password))
        .route("/links/remove/confirm", get(pages::links::confirm_remove))
        .route(
            "/password",
            get(pages::password::show).post(pages::password::save),
        )
        .route(
            "/children/{id}",
            get(pages::child::show).post(pages::child::save),
        )
        .route(
            "/forgot",
            get(pages::recovery::form).post(pages::recovery::submit),
        )
        .route("/forgot/sent", get(pages::recovery::sent))
        .route(
            "/reset/{token}",
            get(pages::recovery::reset_form).post(pages::recovery::reset),
        )
        .route(
            "/apply",
            get(pages::apply::form).post(pages::apply::submit_step_one),
        )
        .route(
            "/apply/confirm",
            get(pages::apply::confirm_form).post(pages::apply::submit_step_two),
        )
        .route("/apply/done", get(pages::apply::done))
        .route("/sso/callback", get(sso::callback))
        .route("/sso/start", get(sso::start))
        .route("/link", get(pages::links::start))
        .route("/links/remove", post(pages::links::remove))
        .route("/logged-out", get(sso::logged_out))
        .route("/sso/backchannel-logout", post(sso::backchannel_logout))
        .route("/logo", get(logo))
        .route("/sso/frontchannel-logout", get(sso::frontchannel_logout))
        .route(path::JWKS, get(federation::jwks))
        .route(path::PASSWORD_CHECK, post(federation::password_check))
        .route(path::ACCOUNT, post(federation::account))
        .route(path::PROFILE, post(federation::profile))
        .route(path::INSTITUTIONS, post(federation::institutions))
        .route(path::EVENTS, post(federation::events))
        .route(path::SET_PASSWORD, post(federation::set_password))
        .route("/lang/{code}", get(pages::lang::switch))
        .route("/health", get(health))
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(health))
        .route("/static/site.css", get(stylesheet))
        .nest("/admin", pages::admin::router(config.max_upload_bytes))
        // After every route (the nested admin pages too): a route layer covers only the
        // routes added before it.
        .route_layer(middleware::from_fn_with_state(
            "school-node",
            shared::metrics::track,
        ))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(form_limit))
        .layer(sessions)
        // Outside the sessions: a session the store fails to save is answered by tower-sessions
        // with a bare 500, which must become the outage page (503, Retry-After) like any other.
        .layer(middleware::from_fn_with_state(state.clone(), error_pages))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn_with_state(
            state.config.trust_forwarded_for,
            shared::audit::client_network,
        ))
        .layer(middleware::from_fn(shared::observe::request_id))
        .layer(middleware::from_fn_with_state(
            std::sync::Arc::new(shared::headers::BuiltHeaders::from(security_policy(&state))),
            shared::headers::security_headers,
        ))
        .with_state(state)
}

/// Nothing here may be framed but the front-channel logout endpoint, and that by the IdP only.
fn security_policy(state: &AppState) -> shared::headers::SecurityPolicy {
    let idp = state
        .config
        .sso
        .enabled()
        .then(|| shared::headers::origin_of(&state.config.sso.issuer))
        .flatten();
    shared::headers::SecurityPolicy {
        frame_src: "'none'".into(),
        frameable: idp.map(|origin| ("/sso/frontchannel-logout".to_owned(), origin)),
        https: state.config.secure_cookies(),
    }
}

/// The pages' one stylesheet (no inline styles: the Content-Security-Policy allows none).
async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/site.css"),
    )
        .into_response()
}

/// Readiness: the database (every migration applied) and the ephemeral store answer: 200, or
/// 503 naming what does not.
async fn health(State(state): State<AppState>) -> Response {
    let report =
        shared::health::readiness(&state.db, &crate::store::MIGRATIONS, &state.ephemeral).await;
    let status = if report.ready {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report)).into_response()
}

/// The institution's logo, for this site's nav bar and those of the schools linked to it.
async fn logo(State(state): State<AppState>) -> Response {
    match &state.logo {
        Some(logo) => (
            [
                (header::CONTENT_TYPE, logo.0),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            logo.1.clone(),
        )
            .into_response(),
        None => crate::error::AppError::new(ErrorKind::NotFound).into_response(),
    }
}

async fn not_found() -> crate::error::AppError {
    crate::error::AppError::new(ErrorKind::NotFound)
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    base: Base,
    message: &'static str,
    request_id: String,
}

/// Turns every error answer — ours or axum's rejections — into a page in the person's language,
/// and logs its cause once with a request id the page shows.
async fn error_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let locale = Locale::resolve(request.headers());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let status = response.status();
    let mark = response.extensions_mut().remove::<ErrorMark>();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html") || v.starts_with("application/json"));
    let (kind, cause) = match mark {
        Some(mark) => (mark.kind, mark.cause),
        None if (status.is_client_error() || status.is_server_error()) && !is_html => {
            (ErrorKind::from_status(status), None)
        }
        None => return response,
    };
    // An error a layer answered without a cause (the session store failing, say) is an outage
    // when a store does not answer now.
    let kind = if kind == ErrorKind::Internal && cause.is_none() && !stores_answer(&state).await {
        ErrorKind::Unavailable
    } else {
        kind
    };
    let status = if kind == ErrorKind::Unavailable {
        kind.status()
    } else {
        status
    };
    let request_id =
        shared::observe::current_request_id().unwrap_or_else(shared::observe::new_request_id);
    if kind == ErrorKind::Internal {
        tracing::error!(%request_id, %method, %path, cause = cause.as_deref().unwrap_or(""), "request failed");
    } else if kind == ErrorKind::Unavailable {
        tracing::warn!(%request_id, %method, %path, cause = cause.as_deref().unwrap_or(""), "request refused: a store is unavailable");
    } else {
        tracing::info!(%request_id, %method, %path, %status, "error page");
    }
    let t = locale.texts();
    let message = match kind {
        ErrorKind::NotFound => t.not_found,
        ErrorKind::Forbidden => t.forbidden,
        ErrorKind::BadRequest => t.bad_request,
        ErrorKind::Csrf => t.csrf_failed,
        ErrorKind::ControlCharacters => t.control_characters,
        ErrorKind::TooLarge => t.too_large,
        ErrorKind::Conflict => t.conflict,
        ErrorKind::Unavailable => t.unavailable,
        ErrorKind::Internal => t.internal,
    };
    let base = Base {
        logo: state.logo.is_some(),
        t,
        institution: state.config.institution_name.clone(),
        user_name: None,
        is_admin: false,
        csrf: String::new(),
        flash: None,
        institutions: Vec::new(),
        my_data_url: None,
    };
    let body = ErrorPage {
        base,
        message,
        request_id,
    }
    .render()
    .unwrap_or_else(|_| message.to_owned());
    let mut page = (status, Html(body)).into_response();
    if let Some(allow) = response.headers().get(header::ALLOW) {
        page.headers_mut().insert(header::ALLOW, allow.clone());
    }
    // The session layer (inside this one) may have set or removed its cookie.
    for cookie in response.headers().get_all(header::SET_COOKIE) {
        page.headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    page
}

/// Whether the database answers and the session store takes a write, at once (a Redis that
/// lost its replicas under `min-replicas-to-write` reads but refuses to save a session).
async fn stores_answer(state: &AppState) -> bool {
    let quick = std::time::Duration::from_millis(500);
    let db = tokio::time::timeout(quick, state.db.ping());
    let ephemeral = tokio::time::timeout(
        quick,
        state
            .ephemeral
            .set("ping", b"", std::time::Duration::from_secs(1)),
    );
    matches!(db.await, Ok(Ok(()))) && matches!(ephemeral.await, Ok(Ok(_)))
}
