//! The institution's administration: accounts, relations and the student import.

mod accounts;
mod applications;
mod import;
mod mail;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router(max_upload_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/accounts", get(accounts::list).post(accounts::create))
        .route("/accounts/new", get(accounts::new_form))
        .route(
            "/accounts/{id}",
            get(accounts::edit_form).post(accounts::update),
        )
        .route("/accounts/{id}/children", post(accounts::add_child))
        .route(
            "/accounts/{id}/children/{child}/remove",
            post(accounts::remove_child),
        )
        .route("/accounts/{id}/disable", post(accounts::disable))
        .route("/accounts/{id}/sign-out", post(accounts::sign_out))
        .route("/accounts/{id}/enable", post(accounts::enable))
        .route("/mail", get(mail::list))
        .route("/mail/{id}/retry", post(mail::retry))
        .route("/mail/{id}/discard", post(mail::discard))
        .route("/idp-messages/{seq}/retry", post(mail::retry_message))
        .route("/idp-messages/{seq}/discard", post(mail::discard_message))
        .route("/applications", get(applications::list))
        .route("/applications/{id}/approve", post(applications::approve))
        .route("/applications/{id}/reject", post(applications::reject))
        .route(
            "/import",
            get(import::form)
                .post(import::upload)
                .layer(DefaultBodyLimit::max(max_upload_bytes)),
        )
}
