//! Linking pages (`service::linking`): choose an institution, sign in there, see how the
//! personal data compare, confirm.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shared::ClientId;
use shared::profile::{ProfileField, SharedProfile};

use crate::error::{AppError, PageResult};
use crate::http::extract::{Browser, CleanQuery, SessionCookie, VerifiedForm};
use crate::http::render;
use crate::i18n::{self, Texts};
use crate::service::linking::{Keep, Reviewed, Stop};
use crate::service::links::Review;
use crate::state::AppState;
use crate::store::persons::Linked;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LinkQuery {
    from: String,
    to: String,
    /// Part of an institution's name, to find it among many.
    q: String,
}

#[derive(Template)]
#[template(path = "link_choose.html")]
struct ChoosePage<'a> {
    t: &'static Texts,
    from: &'a str,
    search: &'a str,
    linked: Vec<String>,
    choices: Vec<(String, String)>,
    /// How many matched beyond those listed.
    more: usize,
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

fn outcome(
    status: StatusCode,
    t: &'static Texts,
    title: &str,
    message: &str,
    back_url: Option<String>,
) -> PageResult {
    let page = OutcomePage {
        t,
        title,
        message,
        fields: Vec::new(),
        detail: None,
        is_error: status != StatusCode::OK,
        back_url,
    };
    render(status, &page)
}

/// A step that cannot go on: a page with the way back to the institution.
fn stopped(state: &AppState, t: &'static Texts, stop: Stop, back_to: &str) -> PageResult {
    match stop {
        Stop::SignInFirst => outcome(
            StatusCode::FORBIDDEN,
            t,
            t.link_title,
            t.link_sign_in_first,
            state.linking.back_url(back_to),
        ),
        Stop::NotAnInstitution => Err(AppError::unknown_client().in_lang(t)),
        Stop::Expired => Err(AppError::request_expired().in_lang(t)),
        Stop::OtherBrowser => Err(AppError::other_browser().in_lang(t)),
        Stop::Internal(e) => Err(AppError::internal(e).in_lang(t)),
    }
}

pub async fn choose(
    State(state): State<AppState>,
    headers: HeaderMap,
    cookie: SessionCookie,
    CleanQuery(q): CleanQuery<LinkQuery>,
) -> PageResult {
    let t = i18n::texts(&headers, None);
    let from = ClientId::new(q.from);
    let choices = match state.linking.choices(cookie.as_deref(), &from, &q.q).await {
        Ok(c) => c,
        Err(stop) => return stopped(&state, t, stop, from.as_str()),
    };
    let page = ChoosePage {
        t,
        from: from.as_str(),
        search: &q.q,
        more: choices.matched - choices.choices.len(),
        linked: choices.linked.into_iter().map(|l| l.name).collect(),
        choices: choices
            .choices
            .iter()
            .map(|c| (c.client_id.to_string(), c.name.clone()))
            .collect(),
        back_url: state.linking.back_url(from.as_str()),
    };
    render(StatusCode::OK, &page)
}

/// The institution is chosen: sign in there unless the session already proved an account.
pub async fn with(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    CleanQuery(q): CleanQuery<LinkQuery>,
) -> PageResult<Response> {
    let t = i18n::texts(&headers, None);
    let (from, to) = (ClientId::new(q.from), ClientId::new(q.to));
    match state
        .linking
        .start(cookie.as_deref(), &from, &to, t.lang, &browser.binding())
        .await
    {
        Ok(location) => Ok(Redirect::to(&location).into_response()),
        Err(stop) => stopped(&state, t, stop, from.as_str()),
    }
}

pub async fn review(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    CleanQuery(q): CleanQuery<LinkQuery>,
) -> PageResult {
    let t = i18n::texts(&headers, None);
    let (from, to) = (ClientId::new(q.from), ClientId::new(q.to));
    let back = state.linking.back_url(from.as_str());
    let reviewed = match state
        .linking
        .review(cookie.as_deref(), &from, &to, &browser.binding())
        .await
    {
        Ok(r) => r,
        Err(stop) => return stopped(&state, t, stop, from.as_str()),
    };
    let shown = match reviewed {
        Reviewed::Match(shown) => shown,
        Reviewed::Other(Review::Mismatch {
            differing,
            uncorroborated,
        }) => {
            let page = OutcomePage {
                t,
                title: t.link_mismatch_title,
                message: t.link_mismatch,
                fields: differing.into_iter().map(|f| t.compared(f)).collect(),
                detail: uncorroborated.then_some(t.link_uncorroborated),
                is_error: true,
                back_url: back,
            };
            return render(StatusCode::CONFLICT, &page);
        }
        Reviewed::Other(Review::AlreadyLinked) => {
            return outcome(StatusCode::OK, t, t.link_title, t.link_already, back);
        }
        Reviewed::Other(Review::Unavailable | Review::Match { .. }) => {
            return outcome(
                StatusCode::BAD_GATEWAY,
                t,
                t.link_title,
                t.link_unavailable,
                back,
            );
        }
    };
    let review = &shown.review;
    let rows = SharedProfile::FIELDS
        .into_iter()
        .map(|f| {
            let value = |p: &SharedProfile| p.get(f).unwrap_or("—").to_owned();
            Row {
                key: field_key(f),
                label: t.field(f),
                a: value(&review.profile_a),
                b: value(&review.profile_b),
                kept: value(&review.proposed),
                choosable: review.choices.contains(&f),
                kept_a: review.proposed.get(f) == review.profile_a.get(f),
            }
        })
        .collect();
    let csrf = browser.csrf_token();
    let (name_a, name_b) = (
        state.linking.name_of(&review.a.node_id),
        state.linking.name_of(&review.b.node_id),
    );
    let page = ReviewPage {
        t,
        review_id: &shown.id,
        csrf: &csrf,
        name_a: &name_a,
        name_b: &name_b,
        rows,
    };
    render(StatusCode::OK, &page)
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
    email: String,
    phone: String,
    address: String,
}

pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    browser: Browser,
    cookie: SessionCookie,
    VerifiedForm(form): VerifiedForm<ConfirmForm>,
) -> PageResult {
    let t = i18n::texts(&headers, None);
    let keep: Vec<(ProfileField, Keep)> = [
        (ProfileField::Email, &form.email),
        (ProfileField::Phone, &form.phone),
        (ProfileField::Address, &form.address),
    ]
    .into_iter()
    .filter_map(|(field, choice)| match choice.as_str() {
        "a" => Some((field, Keep::A)),
        "b" => Some((field, Keep::B)),
        _ => None,
    })
    .collect();
    let (linked, from) = match state
        .linking
        .confirm(cookie.as_deref(), &form.review, &keep, &browser.binding())
        .await
    {
        Ok(done) => done,
        Err(stop) => return stopped(&state, t, stop, ""),
    };
    let back = state.linking.back_url(from.as_str());
    match linked {
        // Back to the school the person came from, signed in afresh there so its nav bar
        // already shows the new link; it says the accounts are linked.
        Linked::Done { .. } => match state.linking.linked_url(from.as_str()) {
            Some(url) => Ok(crate::http::redirect_no_store(&url)),
            None => outcome(StatusCode::OK, t, t.link_done_title, t.link_done, back),
        },
        Linked::AlreadyLinked => outcome(StatusCode::OK, t, t.link_title, t.link_already, back),
        Linked::NodeTaken(_) => outcome(
            StatusCode::CONFLICT,
            t,
            t.link_mismatch_title,
            t.link_node_taken,
            back,
        ),
    }
}
