//! Rendering pages: the layout's common data and field error messages.

use askama::Template;
use axum::response::{Html, IntoResponse};

use crate::error::PageResult;
use crate::i18n::Texts;
use crate::service::{FieldErrors, Problem};

/// What the layout shows on every page.
pub struct Base {
    pub t: &'static Texts,
    pub institution: String,
    pub user_name: Option<String>,
    pub is_admin: bool,
    /// The session's CSRF token, for the forms on the page (empty when no form needs it).
    pub csrf: String,
    pub flash: Option<String>,
    /// The person's linked institutions, for the nav bar.
    pub institutions: crate::sso::client::Institutions,
    /// Whether this institution has a logo (at `/logo`).
    pub logo: bool,
    /// "Minu andmed" at the IdP, for a signed-in person when the school is in the federation.
    pub my_data_url: Option<String>,
}

/// Field errors in the person's language.
pub struct Errors {
    t: &'static Texts,
    items: Vec<(&'static str, Problem)>,
}

impl Errors {
    pub fn none(t: &'static Texts) -> Self {
        Self {
            t,
            items: Vec::new(),
        }
    }

    pub fn from(t: &'static Texts, errors: FieldErrors) -> Self {
        Self { t, items: errors.0 }
    }

    /// The message for `field` as markup, or nothing. The messages are our own static texts.
    pub fn show(&self, field: &str) -> String {
        let messages: String = self
            .items
            .iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, p)| escape(&self.t.describe(*p)))
            .collect::<Vec<_>>()
            .join(" ");
        if messages.is_empty() {
            return String::new();
        }
        format!("<p class=\"error\" id=\"err-{field}\" data-field=\"{field}\">{messages}</p>")
    }

    /// The attributes that tie a field to its error, for screen readers: empty when it has none.
    pub fn attrs(&self, field: &str) -> String {
        if self.items.iter().any(|(f, _)| *f == field) {
            format!(" aria-invalid=\"true\" aria-describedby=\"err-{field}\"")
        } else {
            String::new()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders a page template into an HTML response.
pub fn page(template: impl Template) -> PageResult {
    Ok(Html(template.render()?).into_response())
}

/// Renders a page template with a status other than 200.
pub fn page_with(status: axum::http::StatusCode, template: impl Template) -> PageResult {
    Ok((status, Html(template.render()?)).into_response())
}

/// One audit event as a person reads it.
pub struct EventLine {
    pub when: String,
    pub what: String,
    pub who: String,
    pub network: String,
    pub kind: String,
}

/// The events as lines of a table, in the page's language.
pub fn event_lines(t: &Texts, events: &[shared::audit::Event]) -> Vec<EventLine> {
    use shared::audit::ActorKind;
    events
        .iter()
        .map(|e| {
            let a = &e.actor;
            let name = a.name.clone().or_else(|| a.institution.clone());
            let role = a.role.as_deref().map(|r| t.actor_role(r)).unwrap_or("");
            let who = match (a.kind, name) {
                (ActorKind::Person, _) if a.id.is_none() || a.id == e.subject => {
                    t.event_you.to_owned()
                }
                (ActorKind::System, _) | (_, None) => t.event_system.to_owned(),
                (_, Some(name)) if role.is_empty() => name,
                (_, Some(name)) => format!("{name} ({role})"),
            };
            let mut what = t.event_kind(&e.kind).to_owned();
            if e.kind == shared::audit::kind::PROFILE_CHANGED
                && let Some(fields) = &e.detail
            {
                let names: Vec<&str> = fields.split(',').map(|f| field_label(t, f)).collect();
                what = format!("{what}: {}", names.join(", "));
            }
            if e.outcome != "ok" {
                what = format!("{what} ({})", t.event_failed);
            }
            EventLine {
                when: shared::clock::tallinn_time(e.at),
                what,
                who,
                network: e.network.clone().unwrap_or_default(),
                kind: e.kind.clone(),
            }
        })
        .collect()
}

fn field_label<'a>(t: &Texts, field: &'a str) -> &'a str {
    match field {
        "first_name" => t.first_name,
        "last_name" => t.last_name,
        "personal_code" => t.personal_code,
        "email" => t.email,
        "phone" => t.phone,
        "address" => t.address,
        other => other,
    }
}
