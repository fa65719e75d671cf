//! Linking an account to one at another institution (DESIGN §4.4): choose the institution,
//! sign in there, see how the personal data compare, confirm. Both accounts must be proven in
//! this IdP session; the pages only ever link what the session proved.

use std::time::Duration;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use shared::profile::{ProfileField, SharedProfile};
use subtle::ConstantTimeEq;

use crate::http::pages;
use crate::http::protocol::authorize::{PendingLogin, Purpose, internal};
use crate::i18n::{self, Texts};
use crate::service::links::Review;
use crate::service::sessions::{COOKIE, IdpSession, random_token};
use crate::state::AppState;
use crate::store::persons::{Link, Linked};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LinkQuery {
    from: String,
    to: String,
}

#[derive(Template)]
#[template(path = "link_choose.html")]
struct ChoosePage<'a> {
    t: &'static Texts,
    from: &'a str,
    linked: Vec<String>,
    choices: Vec<(String, String)>,
    back_url: Option<String>,
}

struct Row {
    key: &'static str,
    label: &'static str,
    a: String,
    b: String,
    kept: String,
    choosable: bool,
    kept_a: bool,
}

#[derive(Template)]
#[template(path = "link_review.html")]
struct ReviewPage<'a> {
    t: &'static Texts,
    review_id: &'a str,
    csrf: &'a str,
    name_a: &'a str,
    name_b: &'a str,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "link_outcome.html")]
struct OutcomePage<'a> {
    t: &'static Texts,
    title: &'a str,
    message: &'a str,
    fields: Vec<(&'static str, &'static str)>,
    detail: Option<&'a str>,
    is_error: bool,
    back_url: Option<String>,
}

/// A comparison the person is looking at, until they confirm it.
#[derive(Serialize, Deserialize)]
struct PendingReview {
    a: Link,
    b: Link,
    proposed: SharedProfile,
    profile_a: SharedProfile,
    profile_b: SharedProfile,
    choices: Vec<ProfileField>,
    csrf: String,
}

const REVIEW_MINUTES: u64 = 15;

fn review_key(id: &str) -> String {
    format!("link-review:{id}")
}

fn render(status: StatusCode, t: &'static Texts, page: impl Template) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => internal(t, e.into()),
    }
}

fn outcome(
    status: StatusCode,
    t: &'static Texts,
    title: &str,
    message: &str,
    back_url: Option<String>,
) -> Response {
    let page = OutcomePage {
        t,
        title,
        message,
        fields: Vec::new(),
        detail: None,
        is_error: status != StatusCode::OK,
        back_url,
    };
    render(status, t, page)
}

/// Where the person goes back to at a node: its site, signed in afresh so the nav bar is new.
fn back_url(state: &AppState, client_id: &str) -> Option<String> {
    let client = state.clients.get(client_id)?;
    let base = client.federation_url.as_deref()?.trim_end_matches('/');
    Some(format!("{base}/sso/start?next=/profile"))
}

async fn session(state: &AppState, jar: &CookieJar) -> Option<(String, IdpSession)> {
    let cookie = jar.get(COOKIE)?.value().to_owned();
    let session = state
        .sessions
        .load(&cookie, shared::jwt::now())
        .await
        .ok()??;
    Some((cookie, session))
}

/// Whether `client_id` is a school node (a client for its own accounts with a federation API).
fn is_node(state: &AppState, client_id: &str) -> bool {
    state
        .clients
        .get(client_id)
        .is_some_and(|c| c.node_id == c.client_id && c.federation_url.is_some())
}

pub async fn choose(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LinkQuery>,
) -> Response {
    let t = i18n::texts(&headers, None);
    let session = session(&state, &jar).await;
    let Some(account) = session.as_ref().and_then(|(_, s)| s.accounts.get(&q.from)) else {
        return outcome(
            StatusCode::FORBIDDEN,
            t,
            t.link_title,
            t.link_sign_in_first,
            back_url(&state, &q.from),
        );
    };
    let linked = match state.links.institutions(&q.from, &account.sub).await {
        Ok(l) => l,
        Err(e) => return internal(t, e),
    };
    let choices = state
        .clients
        .all()
        .into_iter()
        .filter(|c| is_node(&state, &c.client_id) && c.client_id != q.from)
        .filter(|c| !linked.iter().any(|l| l.client_id == c.client_id))
        .map(|c| (c.client_id.clone(), c.name.clone()))
        .collect();
    let page = ChoosePage {
        t,
        from: &q.from,
        linked: linked.into_iter().map(|l| l.name).collect(),
        choices,
        back_url: back_url(&state, &q.from),
    };
    render(StatusCode::OK, t, page)
}

/// The institution is chosen: sign in there unless the session already proved an account.
pub async fn with(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LinkQuery>,
) -> Response {
    let t = i18n::texts(&headers, None);
    if !is_node(&state, &q.to) || q.from == q.to {
        return pages::error(StatusCode::BAD_REQUEST, t, t.unknown_client);
    }
    let session = session(&state, &jar).await;
    let proven = |node: &str| {
        session
            .as_ref()
            .and_then(|(_, s)| s.accounts.get(node))
            .is_some_and(|a| a.via_link.is_none())
    };
    if !session
        .as_ref()
        .is_some_and(|(_, s)| s.accounts.contains_key(&q.from))
    {
        return outcome(
            StatusCode::FORBIDDEN,
            t,
            t.link_title,
            t.link_sign_in_first,
            back_url(&state, &q.from),
        );
    }
    if proven(&q.to) {
        return Redirect::to(&review_path(&q.from, &q.to)).into_response();
    }
    let pending = PendingLogin {
        purpose: Purpose::Link {
            from: q.from.clone(),
            to: q.to.clone(),
            ui_locales: Some(t.lang.to_owned()),
        },
        csrf: random_token(),
    };
    match pending.store(&state).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => internal(t, e),
    }
}

pub fn review_path(from: &str, to: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("/link/review?from={}&to={}", enc(from), enc(to))
}

fn link_in(session: &IdpSession, node_id: &str) -> Option<Link> {
    session.accounts.get(node_id).map(|a| Link {
        node_id: node_id.to_owned(),
        sub: a.sub.clone(),
    })
}

pub async fn review(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<LinkQuery>,
) -> Response {
    let t = i18n::texts(&headers, None);
    let back = back_url(&state, &q.from);
    let Some((_, session)) = session(&state, &jar).await else {
        return outcome(
            StatusCode::FORBIDDEN,
            t,
            t.link_title,
            t.link_sign_in_first,
            back,
        );
    };
    // The account to link must have been proven here, not merely opened through a link.
    let proven_b = session
        .accounts
        .get(&q.to)
        .is_some_and(|a| a.via_link.is_none());
    let (Some(a), Some(b), true) = (
        link_in(&session, &q.from),
        link_in(&session, &q.to),
        proven_b,
    ) else {
        return outcome(
            StatusCode::FORBIDDEN,
            t,
            t.link_title,
            t.link_sign_in_first,
            back,
        );
    };
    let review = match state.links.review(&a, &b).await {
        Ok(r) => r,
        Err(e) => return internal(t, e),
    };
    match review {
        Review::AlreadyLinked => outcome(StatusCode::OK, t, t.link_title, t.link_already, back),
        Review::Unavailable => outcome(
            StatusCode::BAD_GATEWAY,
            t,
            t.link_title,
            t.link_unavailable,
            back,
        ),
        Review::Mismatch {
            differing,
            uncorroborated,
        } => {
            let page = OutcomePage {
                t,
                title: t.link_mismatch_title,
                message: t.link_mismatch,
                fields: differing.into_iter().map(|f| t.compared(f)).collect(),
                detail: uncorroborated.then_some(t.link_uncorroborated),
                is_error: true,
                back_url: back,
            };
            render(StatusCode::CONFLICT, t, page)
        }
        Review::Match {
            a: account_a,
            b: account_b,
            proposed,
            choices,
        } => {
            let pending = PendingReview {
                a: a.clone(),
                b: b.clone(),
                proposed: proposed.clone(),
                profile_a: account_a.profile.clone(),
                profile_b: account_b.profile.clone(),
                choices: choices.clone(),
                csrf: random_token(),
            };
            let id = random_token();
            let stored = match serde_json::to_vec(&pending) {
                Ok(bytes) => {
                    state
                        .ephemeral
                        .set(
                            &review_key(&id),
                            &bytes,
                            Duration::from_secs(REVIEW_MINUTES * 60),
                        )
                        .await
                }
                Err(e) => Err(e.into()),
            };
            if let Err(e) = stored {
                return internal(t, e);
            }
            let name = |id: &str| {
                state
                    .clients
                    .get(id)
                    .map(|c| c.name.clone())
                    .unwrap_or_default()
            };
            let (name_a, name_b) = (name(&a.node_id), name(&b.node_id));
            let rows = SharedProfile::FIELDS
                .into_iter()
                .map(|f| {
                    let value = |p: &SharedProfile| p.get(f).unwrap_or("—").to_owned();
                    Row {
                        key: field_key(f),
                        label: t.field(f),
                        a: value(&account_a.profile),
                        b: value(&account_b.profile),
                        kept: value(&proposed),
                        choosable: choices.contains(&f),
                        kept_a: proposed.get(f) == account_a.profile.get(f),
                    }
                })
                .collect();
            let page = ReviewPage {
                t,
                review_id: &id,
                csrf: &pending.csrf,
                name_a: &name_a,
                name_b: &name_b,
                rows,
            };
            render(StatusCode::OK, t, page)
        }
    }
}

fn field_key(field: ProfileField) -> &'static str {
    match field {
        ProfileField::FirstName => "first_name",
        ProfileField::LastName => "last_name",
        ProfileField::PersonalCode => "personal_code",
        ProfileField::Email => "email",
        ProfileField::Phone => "phone",
        ProfileField::Address => "address",
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConfirmForm {
    review: String,
    csrf: String,
    email: String,
    phone: String,
    address: String,
}

pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    body: axum::body::Bytes,
) -> Response {
    let t = i18n::texts(&headers, None);
    let form: ConfirmForm = serde_html_form::from_bytes(&body).unwrap_or_default();
    if form.review.len() != 64 {
        return pages::error(StatusCode::BAD_REQUEST, t, t.request_expired);
    }
    let pending: Option<PendingReview> = match state.ephemeral.get(&review_key(&form.review)).await
    {
        Ok(bytes) => bytes.and_then(|b| serde_json::from_slice(&b).ok()),
        Err(e) => return internal(t, e),
    };
    let Some(pending) = pending else {
        return pages::error(StatusCode::BAD_REQUEST, t, t.request_expired);
    };
    if !bool::from(pending.csrf.as_bytes().ct_eq(form.csrf.as_bytes())) {
        return pages::error(StatusCode::FORBIDDEN, t, t.csrf_failed);
    }
    let back = back_url(&state, &pending.a.node_id);
    // The accounts must still be the ones this session proved.
    let session = session(&state, &jar).await.map(|(_, s)| s);
    let still = session.as_ref().is_some_and(|s| {
        link_in(s, &pending.a.node_id).is_some_and(|l| l.sub == pending.a.sub)
            && link_in(s, &pending.b.node_id).is_some_and(|l| l.sub == pending.b.sub)
    });
    if !still {
        return outcome(
            StatusCode::FORBIDDEN,
            t,
            t.link_title,
            t.link_sign_in_first,
            back,
        );
    }
    let _ = state.ephemeral.delete(&review_key(&form.review)).await;
    let mut profile = pending.proposed.clone();
    for (field, choice) in [
        (ProfileField::Email, &form.email),
        (ProfileField::Phone, &form.phone),
        (ProfileField::Address, &form.address),
    ] {
        if !pending.choices.contains(&field) {
            continue;
        }
        let from = match choice.as_str() {
            "a" => &pending.profile_a,
            "b" => &pending.profile_b,
            _ => continue,
        };
        profile.set(field, from.get(field).map(str::to_owned));
    }
    match state.links.confirm(&pending.a, &pending.b, &profile).await {
        Ok(Linked::Done { .. }) => outcome(StatusCode::OK, t, t.link_done_title, t.link_done, back),
        Ok(Linked::AlreadyLinked) => outcome(StatusCode::OK, t, t.link_title, t.link_already, back),
        Ok(Linked::NodeTaken(_)) => outcome(
            StatusCode::CONFLICT,
            t,
            t.link_mismatch_title,
            t.link_node_taken,
            back,
        ),
        Err(e) => internal(t, e),
    }
}
