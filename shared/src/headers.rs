//! The security headers every response of both services carries: a Content-Security-Policy
//! with no inline script or style, no framing except where a frame is the protocol (a node's
//! front-channel logout endpoint, framed by the IdP only), `nosniff`, a referrer only to the
//! same origin (another site never sees an address, tokens in it included; the language switch
//! goes back to the page it was clicked on), and HSTS when the service is served over https.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// What a service's policy allows beyond its own origin.
#[derive(Debug, Clone, Default)]
pub struct SecurityPolicy {
    /// Where the service's pages may load frames from (`'none'` when they frame nothing).
    pub frame_src: String,
    /// A path that one other origin may frame: (path, that origin).
    pub frameable: Option<(String, String)>,
    /// Served over https: browsers are told to use nothing else.
    pub https: bool,
}

impl SecurityPolicy {
    fn content_security_policy(&self, frame_ancestors: &str) -> String {
        format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; \
             frame-src {}; frame-ancestors {frame_ancestors}; base-uri 'none'; object-src 'none'",
            self.frame_src
        )
    }

    /// The headers for a response to a request for `path`.
    pub fn headers_for(&self, path: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let framed_by = self
            .frameable
            .as_ref()
            .filter(|(p, _)| p == path)
            .map(|(_, origin)| origin.as_str());
        let csp = self.content_security_policy(framed_by.unwrap_or("'none'"));
        let mut set = |name: HeaderName, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        set(header::CONTENT_SECURITY_POLICY, &csp);
        if framed_by.is_none() {
            set(header::X_FRAME_OPTIONS, "DENY");
        }
        set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        set(header::REFERRER_POLICY, "same-origin");
        if self.https {
            set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
        }
        headers
    }
}

/// The headers built once, for every response and for the one framable path.
pub struct BuiltHeaders {
    everywhere: HeaderMap,
    framable: Option<(String, HeaderMap)>,
}

impl From<SecurityPolicy> for BuiltHeaders {
    fn from(policy: SecurityPolicy) -> Self {
        let framable = policy
            .frameable
            .as_ref()
            .map(|(path, _)| (path.clone(), policy.headers_for(path)));
        Self {
            everywhere: policy.headers_for(""),
            framable,
        }
    }
}

/// The middleware:
/// `axum::middleware::from_fn_with_state(Arc::new(BuiltHeaders::from(policy)), security_headers)`.
pub async fn security_headers(
    State(built): State<Arc<BuiltHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let framed = built
        .framable
        .as_ref()
        .filter(|(path, _)| request.uri().path() == path)
        .map(|(_, headers)| headers);
    let headers = framed.unwrap_or(&built.everywhere);
    let mut response = next.run(request).await;
    for (name, value) in headers {
        response.headers_mut().insert(name, value.clone());
    }
    // Every page is made for one person (their data, a form with their CSRF token, an error
    // naming their request): no browser or proxy keeps a copy. Style sheets, logos and
    // protocol documents say what they like.
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if html && !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    // Every 503 (a page, an OAuth `temporarily_unavailable`, a readiness probe) says when to
    // come back, so that balancers and clients wait instead of hammering.
    if response.status() == axum::http::StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::RETRY_AFTER)
    {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    response
}

/// What a 503 asks the caller to wait, in seconds.
pub const RETRY_AFTER_SECONDS: &str = "5";

/// The origin (scheme, host and port) of a URL, for `frame-ancestors`.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_path_may_be_framed_and_only_by_its_origin() {
        let policy = SecurityPolicy {
            frame_src: "'none'".into(),
            frameable: Some((
                "/sso/frontchannel-logout".into(),
                "https://idp.example.ee".into(),
            )),
            https: true,
        };
        let page = policy.headers_for("/profile");
        let csp = page[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(page[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(page[header::REFERRER_POLICY], "same-origin");
        assert_eq!(page[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(page.contains_key(header::STRICT_TRANSPORT_SECURITY));
        let frame = policy.headers_for("/sso/frontchannel-logout");
        let csp = frame[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors https://idp.example.ee;"),
            "{csp}"
        );
        assert!(!frame.contains_key(header::X_FRAME_OPTIONS));
        let plain = SecurityPolicy::default().headers_for("/");
        assert!(!plain.contains_key(header::STRICT_TRANSPORT_SECURITY));
        assert_eq!(
            origin_of("https://idp.example.ee/path?x").as_deref(),
            Some("https://idp.example.ee")
        );
        assert_eq!(
            origin_of("http://idp.localhost:8080").as_deref(),
            Some("http://idp.localhost:8080")
        );
        assert_eq!(origin_of("nonsense"), None);
    }
}

#[cfg(test)]
mod middleware_tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::response::{Html, IntoResponse};
    use tower::ServiceExt;

    async fn answer_of(html: bool, status: StatusCode) -> Response {
        let app = axum::Router::new()
            .fallback(move || async move {
                if html {
                    (status, Html("<p>Mari</p>")).into_response()
                } else {
                    (status, "{}").into_response()
                }
            })
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(BuiltHeaders::from(SecurityPolicy::default())),
                security_headers,
            ));
        app.oneshot(Request::new(axum::body::Body::empty()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn pages_are_not_stored_and_every_503_says_when_to_come_back() {
        let page = answer_of(true, StatusCode::OK).await;
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
        assert!(!page.headers().contains_key(header::RETRY_AFTER));
        let json = answer_of(false, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(json.headers()[header::RETRY_AFTER], RETRY_AFTER_SECONDS);
        assert!(!json.headers().contains_key(header::CACHE_CONTROL));
    }
}
