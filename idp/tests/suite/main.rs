//! The IdP's integration suite, one binary: the persons and links store on both back ends
//! (`links`), and two IdP processes acting as one on PostgreSQL and Redis (`cluster`).

mod cluster;
mod common;
mod console;
mod keys;
mod links;
mod logout_cut_off;
mod observe;
mod outbox;
mod secrets;
mod shutdown;
