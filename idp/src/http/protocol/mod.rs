//! OpenID Connect and OAuth endpoints.

pub mod authorize;
pub mod discovery;
pub mod end_session;
pub mod registration;
pub mod token;
pub mod userinfo;
