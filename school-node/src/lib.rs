//! A school node: one institution's accounts, pages and sign-in.
//!
//! Layers: `http` (routes, extractors, pages) → `service` (the rules) → `store` (SQL).

pub mod app;
pub mod config;
pub mod error;
pub mod http;
pub mod i18n;
pub mod mail;
pub mod service;
pub mod sso;
pub mod state;
pub mod store;

pub use app::Application;
pub use config::Config;
