//! End-to-end tests of the whole federation, one binary: the IdP and school nodes over real
//! HTTP, each test with its own cookie jars as browsers would have. The suites that need
//! Node.js, Chromium, PostgreSQL or Redis are `#[ignore]`d in the plain run; `.ci/run` runs them
//! with `--include-ignored`.

mod browser;
mod console;
mod db_outage;
mod demo_federation;
mod eid;
mod idp_pages;
mod idp_protocol;
mod interop;
mod language;
mod linking;
mod logout;
mod my_data;
mod node_outbox;
mod pages;
mod redis_failover;
mod sign_out_everywhere;
mod sso;
mod upstream_interop;
