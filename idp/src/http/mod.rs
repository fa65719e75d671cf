//! The IdP's HTTP layer: protocol endpoints (JSON and redirects) apart from the pages people
//! see, the node-facing federation API, and the middleware every request passes: a request id,
//! the browser's binding cookie, and error pages.

pub mod console;
pub mod extract;
pub mod federation;
pub mod pages;
pub mod protocol;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;

use crate::error::{AppError, ErrorMark, PageResult};
use crate::i18n::{self, Texts};
use crate::state::AppState;
use extract::{Browser, RequestId};

pub fn router(state: AppState) -> Router {
    let routes = Router::new()
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
        .route(
            "/login/password",
            get(pages::login::new_password_form).post(pages::login::new_password_submit),
        )
        .route("/upstream/{id}/start", get(pages::eid::start))
        .route("/upstream/{id}/callback", get(pages::eid::callback))
        .route("/link", get(pages::link::choose))
        .route("/link/with", get(pages::link::with))
        .route("/link/review", get(pages::link::review))
        .route("/link/confirm", post(pages::link::confirm))
        .route("/me", get(pages::me::show))
        .route("/me/data.json", get(pages::me::download))
        .route("/me/sessions/end", post(pages::me::end_session))
        .route("/me/sessions/leave", post(pages::me::leave))
        .route("/me/sessions/end-all", post(pages::me::end_all))
        .route(
            "/me/links/remove",
            get(pages::me::confirm_remove_link).post(pages::me::remove_link),
        )
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
        .route("/logout/confirm", post(protocol::end_session::confirmed))
        .route(
            shared::federation::path::PROFILE_CHANGES,
            post(federation::profile_changes),
        )
        .route(shared::federation::path::UNLINK, post(federation::unlink))
        .route(
            shared::federation::path::SIGN_OUT,
            post(federation::sign_out),
        )
        .route(
            shared::federation::path::PASSWORD_CHANGED,
            post(federation::password_changed),
        )
        .route("/health", get(protocol::discovery::health))
        .route("/health/live", get(protocol::discovery::live))
        .route("/health/ready", get(protocol::discovery::health))
        .route("/static/idp.css", get(stylesheet))
        .route("/lang/{code}", get(pages::lang::switch))
        .route("/register", post(protocol::registration::register))
        .merge(console::routes());
    // Requests are counted only where metrics are served.
    let routes = if state.config.metrics_listen.is_some() {
        routes.route_layer(middleware::from_fn_with_state(
            "idp",
            shared::metrics::track,
        ))
    } else {
        routes
    };
    routes
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            browser_cookie,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            pages::lang::remember_ui_locales,
        ))
        .layer(middleware::from_fn(error_pages))
        .layer(middleware::from_fn_with_state(
            state.config.trust_forwarded_for,
            shared::audit::client_network,
        ))
        .layer(middleware::from_fn(shared::observe::request_id))
        .layer(middleware::from_fn_with_state(
            std::sync::Arc::new(shared::headers::BuiltHeaders::from(
                shared::headers::SecurityPolicy {
                    // The sign-out page loads the schools' front-channel logout frames.
                    frame_src: "http: https:".into(),
                    frameable: None,
                    https: secure(&state),
                },
            )),
            shared::headers::security_headers,
        ))
        .with_state(state)
}

/// The pages' one stylesheet (no inline styles: the Content-Security-Policy allows none).
async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/idp.css"),
    )
        .into_response()
}

/// Renders a page with a status.
pub fn render(status: StatusCode, page: &impl Template) -> PageResult {
    Ok((status, Html(page.render()?)).into_response())
}

/// A redirect that no cache keeps (it may carry a code or a state).
pub fn redirect_no_store(location: &str) -> Response {
    no_store(Redirect::to(location).into_response())
}

/// An answer no cache may keep: a secret or personal data in it, or a step of a flow.
pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn secure(state: &AppState) -> bool {
    state.config.issuer.starts_with("https://")
}

/// Gives the request the browser's binding value, and sets the cookie when a new browser's
/// page used it.
async fn browser_cookie(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let jar = CookieJar::from_headers(request.headers());
    let browser = Browser::from_cookie(&jar, secure(&state));
    request.extensions_mut().insert(browser.clone());
    let response = next.run(request).await;
    match browser.cookie_to_set(secure(&state)) {
        Some(cookie) => (CookieJar::new().add(cookie), response).into_response(),
        None => response,
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub t: &'static Texts,
    pub title: &'a str,
    pub message: &'a str,
    pub detail: Option<&'a str>,
    pub is_error: bool,
    pub request_id: Option<&'a str>,
    pub retry: Option<&'a str>,
}

/// Gives every request an id (in its log span and its error page) and turns every error
/// answer — ours or axum's rejections — into a page in the person's language, logging its
/// cause once. JSON answers of the protocol endpoints pass untouched.
async fn error_pages(mut request: Request, next: Next) -> Response {
    let request_id =
        shared::observe::current_request_id().unwrap_or_else(shared::observe::new_request_id);
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    // Only an error page needs the language; the method and path are in the request's span.
    let accept_language = request.headers().get(header::ACCEPT_LANGUAGE).cloned();
    let cookies = request.headers().get(header::COOKIE).cloned();
    let mut response = next.run(request).await;
    let status = response.status();
    let mark = response.extensions_mut().remove::<ErrorMark>();
    let has_body = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html") || v.starts_with("application/json"));
    let error = match mark {
        Some(ErrorMark(error)) => error,
        None if (status.is_client_error() || status.is_server_error()) && !has_body => match status
        {
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => AppError::not_found(),
            s if s.is_server_error() => AppError::internal("an unmarked server error"),
            s => AppError::new(s, |t| t.bad_request),
        },
        None => {
            response
                .headers_mut()
                .insert("x-request-id", header_value(&request_id));
            return response;
        }
    };
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // A store that does not answer: the readiness probe and the store metrics say so; each
        // refused request is a warning, not a fault of this program.
        tracing::warn!(%request_id, cause = error.cause.as_deref().unwrap_or(""), "request refused: a store is unavailable");
    } else if status.is_server_error() {
        tracing::error!(%request_id, cause = error.cause.as_deref().unwrap_or(""), "request failed");
    } else {
        tracing::info!(%request_id, %status, cause = error.cause.as_deref().unwrap_or(""), "error page");
    }
    let mut headers = axum::http::HeaderMap::new();
    if let Some(value) = accept_language {
        headers.insert(header::ACCEPT_LANGUAGE, value);
    }
    if let Some(value) = cookies {
        headers.insert(header::COOKIE, value);
    }
    let t = error.lang.unwrap_or_else(|| i18n::texts(&headers, None));
    let page = MessagePage {
        t,
        title: (error.title)(t),
        message: (error.message)(t),
        detail: None,
        is_error: true,
        request_id: Some(&request_id),
        retry: error.retry.as_deref(),
    };
    let body = page
        .render()
        .unwrap_or_else(|_| (error.message)(t).to_owned());
    let mut page = (status, Html(body)).into_response();
    page.headers_mut()
        .insert("x-request-id", header_value(&request_id));
    for name in [header::ALLOW, header::SET_COOKIE] {
        for value in response.headers().get_all(&name) {
            page.headers_mut().append(&name, value.clone());
        }
    }
    page
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("-"))
}
