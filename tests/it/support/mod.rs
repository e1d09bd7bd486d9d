//! The integration tests' kit. The gateway runs as a real process from the built binary (the
//! production entry point, `process`), on a config built in code (`config`), in front of a
//! capture upstream on 127.0.0.1 that records exactly what arrived (`capture`) or a scripted
//! one that writes chosen bytes (`scripted`). Requests go through a small HTTP client
//! (`client`: `gw.get(path).bearer(token).send()`) or raw sockets (`raw`); `observe` polls
//! (`eventually`), reads log events and metrics; `budget` sends bursts and knows what a rate
//! budget may admit. `api` is the config and caller set of the API-as-data tests, `certs`
//! generates certificates, `redis` starts a real redis-server. Ports are always ephemeral.
//!
//! A new test module: put it in `tests/it/NAME.rs` (or `tests/it/NAME/mod.rs` with its parts
//! beside it), add `mod NAME;` to `tests/it/main.rs`, and `use crate::support::...` for what
//! it needs. Tests run as threads of one process: pass environment to the gateway through
//! `GatewayProcess::start`, never `std::env::set_var`; never change the current folder; bind
//! only port 0. Something two modules need goes here, not in a copy. A file written as a
//! crate of its own (`tests/NAME.rs` with `mod support;`) moves in the same way: move it to
//! `tests/it/NAME.rs`, write `use crate::support;` for its `mod support;`, list it in
//! `main.rs`, and trade any TOML text or helper it carries for the kit's.

pub(crate) mod api;
pub(crate) mod budget;
pub(crate) mod capture;
pub(crate) mod certs;
pub(crate) mod client;
pub(crate) mod config;
pub(crate) mod observe;
pub(crate) mod process;
pub(crate) mod raw;
pub(crate) mod redis;
pub(crate) mod scripted;

pub(crate) use capture::{Canned, Capture};
pub(crate) use client::send;
pub(crate) use config::{one_caller, Caller, Config, Team};
pub(crate) use observe::eventually;
pub(crate) use process::{GatewayProcess, TestConfig};

/// SHA-256 hex of a token, as written in `token_sha256`.
pub(crate) fn sha256_hex(token: &str) -> String {
    allo_gateway::auth::token_hash_hex(token)
}
