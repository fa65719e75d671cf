//! Sign-in and sign-out.

use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::error::PageResult;
use crate::http::extract::{ClientAddr, Ctx, VerifiedForm, local_path};
use crate::http::render::{Base, page, page_with};
use crate::http::sso::{SESSION_ID_TOKEN, SESSION_PENDING};
use crate::service::passwords::Secret;
use crate::service::signin::Outcome;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    base: Base,
    csrf: String,
    next: String,
    username: String,
    message: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NextQuery {
    next: String,
    /// Use this node's own form even when single sign-on is configured: `?local=1` (any value
    /// but `0` or `false`, or none).
    local: Option<String>,
    /// Why single sign-on was not used: `cancelled` or `expired`.
    notice: Option<String>,
}

impl NextQuery {
    fn local(&self) -> bool {
        self.local
            .as_deref()
            .is_some_and(|v| !matches!(v, "0" | "false" | "no" | "off"))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
    next: String,
}

pub async fn form(ctx: Ctx, Query(query): Query<NextQuery>) -> PageResult {
    if ctx.user.is_some() {
        return Ok(Redirect::to(local_path(&query.next)).into_response());
    }
    let mut message = match query.notice.as_deref() {
        Some("cancelled") => Some(ctx.t().sso_cancelled.to_owned()),
        Some("expired") => Some(ctx.t().sso_expired.to_owned()),
        _ => None,
    };
    if let (Some(sso), false) = (ctx.state.sso.clone(), query.local()) {
        match sso
            .start(local_path(&query.next), false, ctx.locale.code())
            .await
        {
            Ok((url, pending)) => {
                ctx.session.insert(SESSION_PENDING, &pending).await?;
                return Ok(Redirect::to(&url).into_response());
            }
            Err(e) => {
                // Sign-in must never depend on the IdP being up: fall back to this node's form.
                tracing::warn!(error = %format!("{e:#}"), "single sign-on is unavailable");
                message = Some(ctx.t().sso_unavailable.to_owned());
            }
        }
    }
    let page_data = LoginPage {
        base: ctx.base().await?,
        csrf: ctx.csrf().await?,
        next: local_path(&query.next).to_owned(),
        username: String::new(),
        message,
    };
    page(page_data)
}

pub async fn submit(
    ctx: Ctx,
    ClientAddr(addr): ClientAddr,
    VerifiedForm(form): VerifiedForm<LoginForm>,
) -> PageResult {
    let t = ctx.t();
    let password = Secret::new(form.password);
    let message = match ctx
        .state
        .signin
        .sign_in(&form.username, &password, addr)
        .await?
    {
        Outcome::SignedIn(account) => {
            ctx.sign_in(&account.id).await?;
            let target = if account.must_change_password {
                "/password"
            } else {
                local_path(&form.next)
            };
            return Ok(Redirect::to(target).into_response());
        }
        Outcome::Invalid => t.invalid_credentials.to_owned(),
        Outcome::AmbiguousName => t.ambiguous_name.to_owned(),
        Outcome::Throttled { minutes } => format!("{} {minutes} {}", t.throttled, t.minutes),
    };
    let page_data = LoginPage {
        base: ctx.base().await?,
        csrf: ctx.csrf().await?,
        next: local_path(&form.next).to_owned(),
        username: form.username,
        message: Some(message),
    };
    page_with(StatusCode::UNAUTHORIZED, page_data)
}

#[derive(Deserialize)]
pub struct Empty {}

/// Ends the node's session and, after a single sign-on, the IdP's (RP-initiated logout).
pub async fn logout(ctx: Ctx, VerifiedForm(_): VerifiedForm<Empty>) -> PageResult<Response> {
    let id_token: Option<String> = ctx.session.get(SESSION_ID_TOKEN).await?;
    if let Some(account) = &ctx.user {
        let audit = &ctx.state.audit;
        let event = audit.event(
            shared::audit::kind::SIGNOUT,
            audit.person(account),
            &account.id,
        );
        audit.record(event).await?;
    }
    ctx.session.flush().await?;
    if let (Some(sso), Some(id_token)) = (ctx.state.sso.clone(), id_token) {
        let back = format!("{}/logged-out", ctx.state.config.site_url());
        if let Some(url) = sso.end_session_url(&id_token, &back).await {
            return Ok(Redirect::to(&url).into_response());
        }
    }
    let target = if ctx.state.sso.is_some() {
        "/logged-out"
    } else {
        "/login"
    };
    Ok(Redirect::to(target).into_response())
}
