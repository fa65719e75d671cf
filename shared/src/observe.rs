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
    if json {
        use tracing_subscriber::util::SubscriberInitExt;
        json_lines(filter, std::io::stdout).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
}

/// JSON lines, each written while a request is handled led by that request's
/// `"request_id"` (a SIEM filters on one top-level field), and with every span it is in
/// (the request's among them), not only the innermost.
fn json_lines<W>(
    filter: tracing_subscriber::EnvFilter,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let format = tracing_subscriber::fmt::format()
        .json()
        .with_current_span(true)
        .with_span_list(true);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
        .event_format(WithRequestId(format))
        .finish()
}

/// Puts the current request's id first in each JSON line.
struct WithRequestId<F>(F);

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for WithRequestId<F>
where
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let Some(id) = current_request_id() else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(
            ctx,
            tracing_subscriber::fmt::format::Writer::new(&mut line),
            event,
        )?;
        // The id is plain (`sane`, or ours): nothing in it needs escaping.
        match line.strip_prefix('{') {
            Some(rest) => write!(writer, "{{\"request_id\":\"{id}\",{rest}"),
            None => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Lines {
        type Writer = Lines;
        fn make_writer(&'w self) -> Lines {
            self.clone()
        }
    }

    #[tracing::instrument]
    async fn federation_call(node: &str) {
        tracing::info!("asking the node");
    }

    /// A line from inside a span of its own (a federation call) within a request carries the
    /// request's id at the top, as every line of that request does; a line outside has none.
    #[tokio::test]
    async fn every_json_line_of_a_request_leads_with_its_id() {
        use tower::ServiceExt;
        let lines = Lines::default();
        let subscriber = json_lines("info".into(), lines.clone());
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = axum::Router::new()
            .route(
                "/login",
                axum::routing::post(|| async {
                    tracing::info!("signing in");
                    federation_call("jpk").await;
                    "ok"
                }),
            )
            .layer(axum::middleware::from_fn(request_id));
        let request = axum::http::Request::post("/login")
            .header(REQUEST_ID_HEADER, "3f2a9c1b7d0e")
            .body(axum::body::Body::empty())
            .unwrap();
        app.oneshot(request).await.unwrap();
        tracing::info!("between requests");
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let parsed: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed.len(), 3, "{text}");
        for line in &parsed[..2] {
            assert_eq!(line["request_id"], "3f2a9c1b7d0e", "{line}");
        }
        assert_eq!(parsed[1]["span"]["name"], "federation_call", "{text}");
        assert!(parsed[2].get("request_id").is_none(), "{text}");
    }

    #[test]
    fn only_a_plain_caller_id_is_taken() {
        assert!(sane("3f2a9c1b7d0e"));
        assert!(!sane("short"));
        assert!(!sane("has space in it"));
        assert!(!sane(&"a".repeat(65)));
        assert!(!sane("newline\ninjected"));
    }
}
