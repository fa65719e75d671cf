//! The school node's integration suite, one binary: a real node on a free port per test, over
//! HTTP as a browser sees it (`http`), its command line (`cli`), and its mail through a real
//! SMTP server (`mail`).

mod audit;
mod bursts;
mod cli;
mod common;
mod hostile;
mod http;
mod idp_outbox;
mod mail;
mod races;
