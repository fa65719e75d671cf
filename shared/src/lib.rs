//! Types and rules that the IdP and the school nodes share.

pub mod audit;
pub mod check;
pub mod clock;
pub mod config;
pub mod contact;
pub mod db;
pub mod ephemeral;
pub mod federation;
pub mod headers;
pub mod health;
pub mod http;
pub mod ids;
pub mod jwt;
pub mod matching;
pub mod metrics;
pub mod names;
pub mod observe;
pub mod personal_code;
pub mod profile;
pub mod retry;
pub mod secret;
pub mod session_store;

pub use clock::Clock;
pub use contact::{Email, OptionalText, Phone};
pub use ids::{AccountId, ClientId, Sid};
pub use personal_code::{PersonalCode, PersonalCodeError};
pub use secret::Secret;
