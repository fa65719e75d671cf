//! Single sign-on routes: the callback from the IdP, the node's JWKS and the federation API.

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::extract::{Ctx, local_path};
use super::render::{Base, page};
use crate::error::{AppError, ErrorKind, PageResult};
use crate::service::accounts;
use crate::sso::client::PendingSso;
use crate::sso::logout;
use crate::state::AppState;

pub const SESSION_PENDING: &str = "sso_pending";
pub const SESSION_ID_TOKEN: &str = "id_token";
pub const SESSION_IDP_SID: &str = "idp_sid";
/// The person's linked institutions, from the last ID token, for the nav bar.
pub const SESSION_INSTITUTIONS: &str = "institutions";

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// The IdP sends the person back here with a code, or with an error.
pub async fn callback(ctx: Ctx, Query(query): Query<CallbackQuery>) -> PageResult {
    let sso = ctx
        .state
        .sso
        .clone()
        .ok_or_else(|| AppError::new(ErrorKind::NotFound))?;
    let pending: Option<PendingSso> = ctx.session.remove(SESSION_PENDING).await?;
    let Some(pending) = pending else {
        // No sign-in waits in this browser: it expired, or began in another browser.
        return Ok(Redirect::to("/login?local=1&notice=expired").into_response());
    };
    // RFC 9207: the answer must come from our IdP, and for the request this session made.
    if query.state.as_deref() != Some(pending.state.as_str())
        || query.iss.as_deref().is_some_and(|i| i != sso.issuer())
    {
        tracing::warn!("an SSO callback whose state or iss does not match: signed no one in");
        return Ok(Redirect::to("/login?local=1&notice=expired").into_response());
    }
    if let Some(error) = query.error {
        tracing::info!(%error, "the IdP did not sign the person in");
        return Ok(Redirect::to("/login?local=1&notice=cancelled").into_response());
    }
    let code = query
        .code
        .ok_or_else(|| AppError::new(ErrorKind::BadRequest))?;
    let signed_in = match sso.finish(&code, &pending).await {
        Ok(s) => s,
        Err(e) => {
            return Err(AppError {
                kind: ErrorKind::BadRequest,
                cause: Some(format!("{e:#}")),
            });
        }
    };
    let account = accounts::find(&ctx.state.db, &signed_in.sub)
        .await?
        .filter(|a| !a.disabled);
    let Some(account) = account else {
        return Err(AppError {
            kind: ErrorKind::Forbidden,
            cause: Some("the IdP signed in an account this node does not have".into()),
        });
    };
    ctx.sign_in(&account.id).await?;
    let audit = &ctx.state.audit;
    let event = audit.event(
        shared::audit::kind::SIGNIN_SSO,
        audit.person(&account),
        &account.id,
    );
    audit.record(event).await?;
    ctx.session
        .insert(SESSION_ID_TOKEN, &signed_in.id_token)
        .await?;
    if let Some(sid) = &signed_in.sid {
        ctx.session.insert(SESSION_IDP_SID, sid).await?;
    }
    ctx.session
        .insert(SESSION_INSTITUTIONS, &signed_in.institutions)
        .await?;
    crate::sso::nav::set(&ctx.state.ephemeral, &account.id, &signed_in.institutions).await?;
    // Indexed by the IdP's sid, so a logout from the IdP can end this session on any instance.
    ctx.session.save().await?;
    if let Some(id) = ctx.session.id() {
        logout::index_session(
            &ctx.state.ephemeral,
            &id.to_string(),
            signed_in.sid.as_deref(),
            &account.id,
        )
        .await?;
    }
    let target = if account.must_change_password {
        "/password"
    } else {
        local_path(&pending.next)
    };
    Ok(Redirect::to(target).into_response())
}

#[derive(Template)]
#[template(path = "logged_out.html")]
struct LoggedOutPage {
    base: Base,
}

pub async fn logged_out(ctx: Ctx) -> PageResult {
    page(LoggedOutPage {
        base: ctx.base().await?,
    })
}

pub fn json_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BackChannelForm {
    logout_token: String,
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Back-Channel Logout: 200 when the token is valid (also when the session was already gone),
/// 400 when it is not.
pub async fn backchannel_logout(State(state): State<AppState>, body: Bytes) -> Response {
    let Some(api) = state.federation.clone() else {
        return json_error(StatusCode::NOT_FOUND, "single sign-on is not configured");
    };
    let form: BackChannelForm = serde_html_form::from_bytes(&body).unwrap_or_default();
    let request = match logout::validate(&api, &state.ephemeral, &form.logout_token).await {
        Ok(r) => r,
        Err(why) => {
            tracing::warn!(%why, "logout token refused");
            metrics::counter!("node_backchannel_logouts_total", "outcome" => "refused")
                .increment(1);
            return no_store(json_error(StatusCode::BAD_REQUEST, "invalid_request"));
        }
    };
    let ended = match (&request.sid, &request.sub) {
        (Some(sid), _) => logout::end_sessions_of_sid(&state.ephemeral, sid).await,
        (None, Some(sub)) => logout::end_sessions_of_sub(&state.ephemeral, sub).await,
        (None, None) => Ok(0),
    };
    match ended {
        Ok(n) => {
            tracing::info!(sessions = n, "back-channel logout");
            // A token for sessions already ended is the IdP sending again what it may not
            // have seen answered: a no-op, counted apart so that operators can see it.
            let outcome = if n > 0 { "ended" } else { "nothing_to_end" };
            metrics::counter!("node_backchannel_logouts_total", "outcome" => outcome).increment(1);
            no_store(StatusCode::OK.into_response())
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "ending sessions failed");
            no_store(json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
            ))
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct FrontChannelQuery {
    iss: String,
    sid: String,
}

/// Front-Channel Logout: ends the sessions of `sid` on the server, so it works in an iframe
/// without third-party cookies.
pub async fn frontchannel_logout(
    State(state): State<AppState>,
    Query(query): Query<FrontChannelQuery>,
) -> Response {
    let issuer_ok = state
        .sso
        .as_ref()
        .is_some_and(|sso| sso.issuer() == query.iss);
    if !issuer_ok || query.sid.is_empty() {
        return no_store(StatusCode::BAD_REQUEST.into_response());
    }
    match logout::end_sessions_of_sid(&state.ephemeral, &query.sid).await {
        Ok(_) => no_store(
            (
                StatusCode::OK,
                axum::response::Html("<!doctype html><title>logout</title>"),
            )
                .into_response(),
        ),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "front-channel logout failed");
            no_store(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StartQuery {
    next: String,
}

/// Opens this institution through the IdP, also when already signed in here, so that the
/// session and its nav bar are fresh (the nav bar's links and the end of linking come here).
pub async fn start(ctx: Ctx, Query(query): Query<StartQuery>) -> PageResult {
    let next = local_path(&query.next);
    let Some(sso) = ctx.state.sso.clone() else {
        return Ok(Redirect::to(next).into_response());
    };
    match sso.start(next, false, ctx.locale.code()).await {
        Ok((url, pending)) => {
            ctx.session.insert(SESSION_PENDING, &pending).await?;
            Ok(Redirect::to(&url).into_response())
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "single sign-on is unavailable");
            ctx.flash(ctx.t().sso_unavailable).await?;
            Ok(Redirect::to(next).into_response())
        }
    }
}
