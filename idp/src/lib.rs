//! The central IdP: the OpenID Provider of the school federation.
//!
//! Layers: `http` (protocol endpoints and pages) → `service` (sessions, tokens, clients, keys,
//! the federation API) → `store` (SQL); `oidc` holds protocol rules without I/O.

pub mod app;
pub mod check;
pub mod config;
pub mod console_texts;
pub mod error;
pub mod http;
pub mod i18n;
pub mod oidc;
pub mod service;
pub mod state;
pub mod store;

pub use app::Application;
pub use config::Config;
