//! The integration tests: one test binary, one module per subject. Each starts the real
//! gateway binary on 127.0.0.1 (see `support`) and runs in parallel threads of this one
//! process, so nothing here may lean on process-wide state: no `std::env::set_var`, no change
//! of the current folder, no fixed port. Run one module with `cargo test --test it core::`.

// A test and its kit unwrap: a failed unwrap is a failed test, with its place in the panic.
#![allow(clippy::unwrap_used)]

mod support;

mod api_data;
mod api_data_reload;
mod check_all;
mod cli;
mod core;
mod deploy;
mod edge_bounds;
mod edge_fuzz_found;
mod edge_h2;
mod edge_headers;
mod edge_wire;
mod hardening;
mod keycheck;
mod memory;
mod ops;
mod ratelimit;
mod redis_budget;
mod reload_under_load;
mod rewrite_props;
mod sandbox;
mod secrets;
mod shared_budget;
mod slow_clients;
mod tls_inbound;
mod tls_upstream;
mod upstream_h2;
mod upstream_wire;
mod workers;
