//! Test helpers: the gateway started as a real process from the built binary (the production
//! entry point), a capture upstream on 127.0.0.1 that records exactly what arrived, and a
//! small HTTP client. Ports are always ephemeral.
#![allow(dead_code)]

pub mod api;
pub mod capture;
pub mod certs;
pub mod client;
pub mod config;
pub mod process;
pub mod raw;
pub mod redis;

#[allow(unused_imports)]
pub use capture::{Canned, Capture};
#[allow(unused_imports)]
pub use client::send;
#[allow(unused_imports)]
pub use process::{GatewayProcess, TestConfig};

/// SHA-256 hex of a token, as written in `token_sha256`.
pub fn sha256_hex(token: &str) -> String {
    allo_gateway::auth::token_hash_hex(token)
}
