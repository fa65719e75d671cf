//! Protocol rules that need no I/O: errors with the RFC codes, PKCE, authorization requests.

pub mod error;
pub mod pkce;
pub mod request;
