//! Enrolment: the form that makes a one-time token for a new school, the token shown once with
//! the command to run on the school's server, and the tokens not yet used.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::{Frame, Operator, when};
use crate::error::{AppError, PageResult};
use crate::http::extract::VerifiedForm;
use crate::http::render;
use crate::i18n::Texts;
use crate::service::console::Role;
use crate::service::enrolment::TokenRequest;
use crate::service::institutions::InstitutionError;
use crate::state::AppState;

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct TokenForm {
    client_id: String,
    name: String,
    public_url: String,
    hours: String,
}

pub struct OpenToken {
    client_id: String,
    name: String,
    public_url: String,
    expires: String,
    made_by: String,
}

#[derive(Template)]
#[template(path = "console/enrolment.html")]
struct EnrolmentPage {
    t: &'static Texts,
    f: Frame,
    form: TokenForm,
    problems: Vec<String>,
    open: Vec<OpenToken>,
    /// A token just made, with its command: shown once.
    made: Option<(String, String)>,
}

async fn page(
    state: &AppState,
    op: &Operator,
    form: TokenForm,
    problems: Vec<String>,
    made: Option<(String, String)>,
) -> Result<EnrolmentPage, AppError> {
    let open = state
        .enrolment
        .open()
        .await?
        .into_iter()
        .map(|r| OpenToken {
            client_id: r.client_id,
            name: r.name,
            public_url: r.public_url,
            expires: when(r.expires_at),
            made_by: r.created_by,
        })
        .collect();
    Ok(EnrolmentPage {
        t: op.t,
        f: op.frame(op.t.console.enrolment),
        form,
        problems,
        open,
        made,
    })
}

pub async fn show(State(state): State<AppState>, op: Operator) -> PageResult {
    op.require(Role::Operator)?;
    let form = TokenForm {
        hours: "24".into(),
        ..TokenForm::default()
    };
    render(
        StatusCode::OK,
        &page(&state, &op, form, Vec::new(), None).await?,
    )
}

pub async fn make_token(
    State(state): State<AppState>,
    op: Operator,
    VerifiedForm(form): VerifiedForm<TokenForm>,
) -> PageResult {
    op.require(Role::Operator)?;
    let request = TokenRequest {
        client_id: form.client_id.trim().to_owned(),
        name: form.name.trim().to_owned(),
        public_url: form.public_url.trim().to_owned(),
        hours: form.hours.trim().parse().unwrap_or(0),
    };
    let (status, problems, made) = match state.enrolment.issue(request, &op.session).await {
        Ok(issued) => {
            let command = format!(
                "school-node enroll --idp {} --token {}",
                state.config.issuer, issued.token
            );
            (StatusCode::OK, Vec::new(), Some((issued.token, command)))
        }
        Err(InstitutionError::Invalid(problems)) => (StatusCode::BAD_REQUEST, problems, None),
        Err(InstitutionError::Exists) => (
            StatusCode::CONFLICT,
            vec![op.t.console.exists.to_owned()],
            None,
        ),
        Err(e) => return Err(AppError::internal(format!("{e:?}")).in_lang(op.t)),
    };
    let form = if made.is_some() {
        TokenForm {
            hours: "24".into(),
            ..TokenForm::default()
        }
    } else {
        form
    };
    // The token is shown once: no cache may keep the page.
    render(status, &page(&state, &op, form, problems, made).await?).map(crate::http::no_store)
}
