//! Following one request through every process it touches: each request gets an id (the
//! caller's `X-Request-Id` when it sends a sane one, a new one otherwise), every log line it
//! causes carries it in a span, the answer names it, and calls to other services send it on.
//! Logs are text by default and JSON lines when configured.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// The id of the request this task is answering.
    static REQUEST_ID: String;
}

/// The id of the request being answered, to send on with a call to another service.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A caller's id is taken when it is short and plain (it goes into logs and headers).
fn sane(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// 48 random bits as 12 hex digits, from the thread's generator (no system call).
pub fn new_request_id() -> String {
    use rand::RngExt;
    let bytes: [u8; 6] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The middleware: the id, its span, and the answer's header.
pub async fn request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map_or_else(new_request_id, str::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path()
    );
    let mut response = REQUEST_ID
        .scope(id.clone(), next.run(request).instrument(span))
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Logs to standard output: JSON lines when `json`, text otherwise; `RUST_LOG` filters.
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_caller_id_is_taken() {
        assert!(sane("3f2a9c1b7d0e"));
        assert!(!sane("short"));
        assert!(!sane("has space in it"));
        assert!(!sane(&"a".repeat(65)));
        assert!(!sane("newline\ninjected"));
    }
}
