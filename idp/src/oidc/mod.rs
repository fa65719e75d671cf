//! Protocol rules that need no I/O: errors with the RFC codes, PKCE, authorization requests,
//! the claims the IdP signs, and levels of assurance.

pub mod acr;
pub mod claims;
pub mod eid;
pub mod error;
pub mod pkce;
pub mod request;
