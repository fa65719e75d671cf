//! The IdP's domain services: every flow a person or a node sets off, with its rules. No HTTP
//! types here; handlers parse, call one function and render what it returns.

pub mod authorize;
pub mod client_auth;
pub mod clients;
pub mod console;
pub mod delivery;
pub mod eid;
pub mod enrolment;
pub mod federation;
pub mod health;
pub mod institutions;
pub mod key_encryption;
pub mod keys;
pub mod linking;
pub mod links;
pub mod logout;
pub mod my_data;
pub mod new_password;
pub mod node_requests;
pub mod operations;
pub mod registration;
pub mod retention;
pub mod sessions;
pub mod signin;
pub mod throttle;
pub mod tokens;
pub mod upstream;

use rand::RngExt;

/// 256 random bits as 64 hex digits: cookies, codes, tokens, waiting-step ids.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` could be a value `random_token` made (and so is worth a store look-up).
pub fn is_token(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}
