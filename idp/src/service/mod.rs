//! The IdP's domain services. No HTTP types except the protocol errors they answer with.

pub mod clients;
pub mod delivery;
pub mod federation;
pub mod keys;
pub mod links;
pub mod sessions;
pub mod tokens;
pub mod upstream;
