//! Links to the person's accounts at other institutions: start linking at the IdP, which owns
//! links, and remove one.

use askama::Template;
use axum::extract::Query;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use crate::error::{AppError, ErrorKind, PageResult};
use crate::http::extract::{SignedIn, VerifiedForm};
use crate::http::render::{Base, page};
use crate::http::sso::{SESSION_ID_TOKEN, SESSION_INSTITUTIONS};

/// "Seo oma konto teise kooliga": the IdP lists the institutions and does the rest.
pub async fn start(SignedIn { ctx, .. }: SignedIn) -> PageResult {
    let signed_in_by_sso = ctx.session.get::<String>(SESSION_ID_TOKEN).await?.is_some();
    let Some(sso) = ctx.state.sso.clone().filter(|_| signed_in_by_sso) else {
        ctx.flash(ctx.t().link_needs_sso).await?;
        return Ok(Redirect::to("/sso/start?next=/profile").into_response());
    };
    let mut url = reqwest::Url::parse(&format!("{}/link", sso.issuer().trim_end_matches('/')))
        .map_err(|e| AppError {
            kind: ErrorKind::Internal,
            cause: Some(e.to_string()),
        })?;
    url.query_pairs_mut()
        .append_pair("from", sso.client_id())
        .append_pair("ui_locales", ctx.locale.code());
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RemoveForm {
    client_id: String,
}

pub async fn remove(
    SignedIn { ctx, account }: SignedIn,
    VerifiedForm(form): VerifiedForm<RemoveForm>,
) -> PageResult {
    let Some(sync) = ctx.state.idp_api.clone() else {
        return Err(AppError::new(ErrorKind::NotFound));
    };
    match sync.unlink(&account.id, &form.client_id).await {
        Ok(_) => {
            let mut list = ctx.institutions().await?;
            list.retain(|i| i.client_id != form.client_id);
            ctx.session.insert(SESSION_INSTITUTIONS, &list).await?;
            crate::sso::nav::set(&ctx.state.ephemeral, &account.id, &list).await?;
            ctx.flash(ctx.t().link_removed).await?;
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "unlinking failed");
            ctx.flash(ctx.t().sso_unavailable).await?;
        }
    }
    Ok(Redirect::to("/profile").into_response())
}

#[derive(Template)]
#[template(path = "remove_link.html")]
struct RemoveLinkPage {
    base: Base,
    client_id: String,
    name: String,
}

/// "Eemalda seos" asks first: what removing the link does, and a button to go on.
pub async fn confirm_remove(
    SignedIn { ctx, .. }: SignedIn,
    Query(form): Query<RemoveForm>,
) -> PageResult {
    let base = ctx.base().await?;
    let Some(linked) = base
        .institutions
        .iter()
        .find(|i| i.client_id == form.client_id)
        .cloned()
    else {
        return Err(AppError::new(ErrorKind::NotFound));
    };
    page(RemoveLinkPage {
        base,
        client_id: linked.client_id,
        name: linked.name,
    })
}
