//! The institutions pages: the list (search, pages of 50), one institution (its form, or its
//! values read-only when it comes from the configuration), add, disable, enable, new secret.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Done, Frame, Operator, encode, lines, optional, when};
use crate::error::{AppError, PageResult};
use crate::http::extract::{ButtonOnly, CleanQuery, VerifiedForm};
use crate::http::{redirect_no_store, render};
use crate::i18n::Texts;
use crate::service::console::Role;
use crate::service::institutions::{InstitutionError, InstitutionInput, PAGE_SIZE};
use crate::state::AppState;
use crate::store::clients::{ClientRow, Source};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    offset: i64,
}

pub struct Line {
    pub client_id: String,
    pub name: String,
    pub from_file: bool,
    pub disabled: bool,
}

#[derive(Template)]
#[template(path = "console/institutions.html")]
struct ListPage {
    t: &'static Texts,
    f: Frame,
    q: String,
    lines: Vec<Line>,
    from: i64,
    to: i64,
    total: i64,
    previous: Option<String>,
    next: Option<String>,
}

fn page_link(q: &str, offset: i64) -> String {
    format!("/admin/institutions?q={}&offset={offset}", encode(q))
}

pub async fn list(
    State(state): State<AppState>,
    op: Operator,
    CleanQuery(query): CleanQuery<ListQuery>,
) -> PageResult {
    op.require(Role::Operator)?;
    let listing = state.institutions.list(&query.q, query.offset).await?;
    let shown = i64::try_from(listing.rows.len()).unwrap_or(0);
    let page = ListPage {
        t: op.t,
        f: op.frame(op.t.console.institutions),
        lines: listing
            .rows
            .iter()
            .map(|r| Line {
                client_id: r.client_id.clone(),
                name: r.name.clone(),
                from_file: r.source == Source::File.as_str(),
                disabled: r.disabled_at.is_some(),
            })
            .collect(),
        from: if shown == 0 { 0 } else { listing.offset + 1 },
        to: listing.offset + shown,
        total: listing.total,
        previous: (listing.offset > 0)
            .then(|| page_link(&query.q, (listing.offset - PAGE_SIZE).max(0))),
        next: (listing.offset + shown < listing.total)
            .then(|| page_link(&query.q, listing.offset + PAGE_SIZE)),
        q: query.q,
    };
    render(StatusCode::OK, &page)
}

/// What the form shows: the values, each list one per line.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct InstitutionForm {
    client_id: String,
    name: String,
    logo_url: String,
    entry_url: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    backchannel_logout_uri: String,
    frontchannel_logout_uri: String,
    jwks_uri: String,
    federation_node: String,
}

impl InstitutionForm {
    fn input(&self) -> InstitutionInput {
        InstitutionInput {
            client_id: self.client_id.trim().to_owned(),
            name: self.name.trim().to_owned(),
            logo_url: optional(&self.logo_url),
            entry_url: optional(&self.entry_url),
            redirect_uris: lines(&self.redirect_uris),
            post_logout_redirect_uris: lines(&self.post_logout_redirect_uris),
            backchannel_logout_uri: optional(&self.backchannel_logout_uri),
            frontchannel_logout_uri: optional(&self.frontchannel_logout_uri),
            jwks_uri: optional(&self.jwks_uri),
            federation_node: optional(&self.federation_node),
        }
    }

    fn of(input: &InstitutionInput) -> Self {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        InstitutionForm {
            client_id: input.client_id.clone(),
            name: input.name.clone(),
            logo_url: text(&input.logo_url),
            entry_url: text(&input.entry_url),
            redirect_uris: input.redirect_uris.join("\n"),
            post_logout_redirect_uris: input.post_logout_redirect_uris.join("\n"),
            backchannel_logout_uri: text(&input.backchannel_logout_uri),
            frontchannel_logout_uri: text(&input.frontchannel_logout_uri),
            jwks_uri: text(&input.jwks_uri),
            federation_node: text(&input.federation_node),
        }
    }
}

/// The state of a stored institution beside its form.
pub struct Stored {
    from_file: bool,
    disabled: bool,
    /// Each secret in force and until when.
    secrets: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/institution.html")]
struct InstitutionPage {
    t: &'static Texts,
    f: Frame,
    form: InstitutionForm,
    /// None: the form adds a new one.
    stored: Option<Stored>,
    /// From the configuration: shown, not a form.
    read_only: bool,
    problems: Vec<String>,
    done: Option<String>,
}

fn stored(t: &'static Texts, row: &ClientRow) -> Stored {
    let mut secrets = Vec::new();
    if row.secret_hash.is_some() {
        secrets.push(t.console.secret_no_expiry.to_owned());
    }
    let expiring: Vec<crate::config::SecretConfig> =
        serde_json::from_str(&row.secrets).unwrap_or_default();
    for s in expiring {
        secrets.push(match s.expires_at {
            Some(at) => format!("{} {}", t.console.secret_until, when(at.unix_timestamp())),
            None => t.console.secret_no_expiry.to_owned(),
        });
    }
    Stored {
        from_file: row.source == Source::File.as_str(),
        disabled: row.disabled_at.is_some(),
        secrets,
    }
}

pub async fn new_form(op: Operator) -> PageResult {
    op.require(Role::Operator)?;
    let page = InstitutionPage {
        t: op.t,
        f: op.frame(op.t.console.add_institution),
        form: InstitutionForm::default(),
        read_only: false,
        stored: None,
        problems: Vec::new(),
        done: None,
    };
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "console/secret.html")]
struct SecretPage {
    t: &'static Texts,
    f: Frame,
    client_id: String,
    secret: String,
    message: Option<&'static str>,
}

/// A page that shows a secret once: no cache may keep it.
fn once(page: PageResult) -> PageResult {
    page.map(crate::http::no_store)
}

fn form_again(
    op: &Operator,
    form: InstitutionForm,
    stored: Option<Stored>,
    e: InstitutionError,
) -> PageResult {
    let (status, problems) = match e {
        InstitutionError::Invalid(problems) => (StatusCode::BAD_REQUEST, problems),
        InstitutionError::Exists => (StatusCode::CONFLICT, vec![op.t.console.exists.to_owned()]),
        InstitutionError::NotFound => return Err(AppError::not_found().in_lang(op.t)),
        InstitutionError::FromConfiguration => (
            StatusCode::CONFLICT,
            vec![op.t.console.read_only.to_owned()],
        ),
        InstitutionError::Internal(e) => return Err(AppError::internal(e).in_lang(op.t)),
    };
    let title = if stored.is_some() {
        op.t.console.institutions
    } else {
        op.t.console.add_institution
    };
    let page = InstitutionPage {
        t: op.t,
        f: op.frame(title),
        form,
        read_only: stored.as_ref().is_some_and(|s| s.from_file),
        stored,
        problems,
        done: None,
    };
    render(status, &page)
}

pub async fn add(
    State(state): State<AppState>,
    op: Operator,
    VerifiedForm(form): VerifiedForm<InstitutionForm>,
) -> PageResult {
    op.require(Role::Operator)?;
    match state
        .institutions
        .add(form.input(), &op.session, "added in the console")
        .await
    {
        Ok(secret) => once(render(
            StatusCode::OK,
            &SecretPage {
                t: op.t,
                f: op.frame(op.t.console.secret_title),
                client_id: form.client_id.trim().to_owned(),
                secret,
                message: Some(op.t.console.added),
            },
        )),
        Err(e) => form_again(&op, form, None, e),
    }
}

async fn institution(state: &AppState, op: &Operator, id: &str) -> Result<ClientRow, AppError> {
    op.require(Role::Operator)?;
    state
        .institutions
        .get(id)
        .await?
        .ok_or_else(|| AppError::not_found().in_lang(op.t))
}

fn done_text(t: &'static Texts, done: &Done) -> Option<String> {
    Some(match done.done.as_deref()? {
        "saved" => t.console.saved.to_owned(),
        "disabled" => format!("{} {}", t.console.disabled_done, done.n.unwrap_or(0)),
        "enabled" => t.console.enabled_done.to_owned(),
        _ => return None,
    })
}

pub async fn show(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    CleanQuery(done): CleanQuery<Done>,
) -> PageResult {
    let row = institution(&state, &op, &id).await?;
    let page = InstitutionPage {
        t: op.t,
        f: op.frame(op.t.console.institutions),
        form: InstitutionForm::of(&InstitutionInput::from_row(&row)),
        read_only: row.source == Source::File.as_str(),
        stored: Some(stored(op.t, &row)),
        problems: Vec::new(),
        done: done_text(op.t, &done),
    };
    render(StatusCode::OK, &page)
}

pub async fn edit(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    VerifiedForm(mut form): VerifiedForm<InstitutionForm>,
) -> PageResult {
    let row = institution(&state, &op, &id).await?;
    // The id is the page's, whatever the form says.
    form.client_id = row.client_id.clone();
    match state.institutions.edit(form.input(), &op.session).await {
        Ok(()) => Ok(redirect_no_store(&format!(
            "/admin/institutions/{}?done=saved",
            encode(&id)
        ))),
        Err(e) => form_again(&op, form, Some(stored(op.t, &row)), e),
    }
}

fn refused(op: &Operator, e: InstitutionError) -> AppError {
    match e {
        InstitutionError::NotFound => AppError::not_found(),
        InstitutionError::FromConfiguration => {
            AppError::new(StatusCode::CONFLICT, |t| t.console.read_only)
        }
        InstitutionError::Internal(e) => AppError::internal(e),
        other => AppError::bad_request().caused_by(format!("{other:?}")),
    }
    .in_lang(op.t)
}

pub async fn disable(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    VerifiedForm(_): VerifiedForm<ButtonOnly>,
) -> PageResult<Response> {
    op.require(Role::Operator)?;
    let ended = state
        .institutions
        .disable(&id, &op.session)
        .await
        .map_err(|e| refused(&op, e))?;
    Ok(redirect_no_store(&format!(
        "/admin/institutions/{}?done=disabled&n={ended}",
        encode(&id)
    )))
}

pub async fn enable(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    VerifiedForm(_): VerifiedForm<ButtonOnly>,
) -> PageResult<Response> {
    op.require(Role::Operator)?;
    state
        .institutions
        .enable(&id, &op.session)
        .await
        .map_err(|e| refused(&op, e))?;
    Ok(redirect_no_store(&format!(
        "/admin/institutions/{}?done=enabled",
        encode(&id)
    )))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SecretForm {
    /// How many hours the old secret keeps working.
    old_hours: String,
}

pub async fn new_secret(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<SecretForm>,
) -> PageResult {
    op.require(Role::Operator)?;
    let hours: i64 = match form.old_hours.trim() {
        "" => 0,
        text => text
            .parse()
            .ok()
            .filter(|h| (0..=24 * 90).contains(h))
            .ok_or_else(|| AppError::bad_request().in_lang(op.t))?,
    };
    let until = state.config.clock.now() + hours * 3600;
    let secret = state
        .institutions
        .new_secret(&id, until, &op.session)
        .await
        .map_err(|e| refused(&op, e))?;
    once(render(
        StatusCode::OK,
        &SecretPage {
            t: op.t,
            f: op.frame(op.t.console.secret_title),
            client_id: id,
            secret,
            message: None,
        },
    ))
}
