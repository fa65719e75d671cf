//! The student import: upload a CSV file, see a line of the report for each row.

use askama::Template;
use axum::extract::Multipart;
use axum::http::StatusCode;

use crate::error::{AppError, ErrorKind, PageResult};
use crate::http::extract::{Admin, SignedIn, check_csrf};
use crate::http::render::{Base, page, page_with};
use crate::i18n::Texts;
use crate::service::import::{self, FileProblem, RowOutcome};

pub struct ReportRow {
    line: u64,
    name: String,
    ok: bool,
    result: String,
}

#[derive(Template)]
#[template(path = "admin_import.html")]
struct ImportPage {
    base: Base,
    file_problem: Option<String>,
    report: Vec<ReportRow>,
}

pub async fn form(Admin(SignedIn { ctx, .. }): Admin) -> PageResult {
    page(ImportPage {
        base: ctx.base().await?,
        file_problem: None,
        report: Vec::new(),
    })
}

fn file_problem_text(t: &Texts, problem: &FileProblem) -> String {
    match problem {
        FileProblem::NotUtf8 => t.file_not_utf8.to_owned(),
        FileProblem::Empty => t.file_empty.to_owned(),
        FileProblem::MissingColumns => t.file_missing_columns.to_owned(),
        FileProblem::Malformed { line } => format!("{} {line}.", t.file_malformed),
        FileProblem::TooManyRows => t.file_too_many_rows.to_owned(),
    }
}

fn outcome_text(t: &Texts, outcome: &RowOutcome) -> String {
    match outcome {
        RowOutcome::Created => t.created.to_owned(),
        RowOutcome::DuplicateInFile => t.duplicate_in_file.to_owned(),
        RowOutcome::WrongFieldCount => t.wrong_field_count.to_owned(),
        RowOutcome::Rejected(errors) => errors
            .0
            .iter()
            .map(|(field, p)| format!("{}: {}", field_label(t, field), t.describe(*p)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn field_label(t: &Texts, field: &str) -> &'static str {
    match field {
        "first_name" => t.first_name,
        "last_name" => t.last_name,
        "personal_code" => t.personal_code,
        "email" => t.email,
        "phone" => t.phone,
        _ => t.address,
    }
}

fn bad_upload(e: axum::extract::multipart::MultipartError) -> AppError {
    AppError {
        kind: ErrorKind::from_status(e.status()),
        cause: Some(e.body_text()),
    }
}

pub async fn upload(
    Admin(SignedIn { ctx, account: me }): Admin,
    mut multipart: Multipart,
) -> PageResult {
    let t = ctx.t();
    let (mut csrf, mut file) = (None, None);
    while let Some(field) = multipart.next_field().await.map_err(bad_upload)? {
        match field.name() {
            Some("csrf") => csrf = Some(field.text().await.map_err(bad_upload)?),
            Some("file") => file = Some(field.bytes().await.map_err(bad_upload)?),
            _ => {}
        }
    }
    check_csrf(&ctx.session, csrf.as_deref().unwrap_or("")).await?;
    let base = ctx.base().await?;
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        let problem = Some(t.file_missing.to_owned());
        return page_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            ImportPage {
                base,
                file_problem: problem,
                report: Vec::new(),
            },
        );
    };
    match import::import_students(&ctx.state.db, &bytes).await? {
        Ok(rows) => {
            let created = rows
                .iter()
                .filter(|r| r.outcome == RowOutcome::Created)
                .count();
            let audit = &ctx.state.audit;
            let event = shared::audit::Event::new(shared::audit::kind::IMPORT, audit.admin(&me))
                .at_institution(&audit.institution)
                .detail(format!("{} rows, {created} accounts created", rows.len()));
            audit.record(event).await?;
            let report = rows
                .iter()
                .map(|r| ReportRow {
                    line: r.line,
                    name: r.name.clone(),
                    ok: r.outcome == RowOutcome::Created,
                    result: outcome_text(t, &r.outcome),
                })
                .collect();
            page(ImportPage {
                base,
                file_problem: None,
                report,
            })
        }
        Err(problem) => {
            let problem = Some(file_problem_text(t, &problem));
            page_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                ImportPage {
                    base,
                    file_problem: problem,
                    report: Vec::new(),
                },
            )
        }
    }
}
