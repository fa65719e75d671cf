//! OpenID Connect and OAuth endpoints.

pub mod authorize;
pub mod discovery;
pub mod end_session;
pub mod token;
pub mod userinfo;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};

/// A redirect to a client URI with query parameters added.
pub fn redirect_with(uri: &str, params: &[(&str, &str)]) -> Response {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            if !params.is_empty() {
                let mut query = url.query_pairs_mut();
                for (k, v) in params {
                    query.append_pair(k, v);
                }
            }
            let mut response = Redirect::to(url.as_str()).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => Redirect::to("/").into_response(),
    }
}
