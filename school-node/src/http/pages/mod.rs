//! The node's pages, one module per page or group of pages.

pub mod admin;
pub mod apply;
pub mod child;
pub mod home;
pub mod lang;
pub mod links;
pub mod login;
pub mod password;
pub mod profile;
pub mod recovery;
