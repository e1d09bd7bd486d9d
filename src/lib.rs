//! allo-gateway: an authenticating, validating, rate-limiting reverse proxy for the Allo API,
//! run as a sidecar. `main` is the entry point shared by the binary and the tests' processes;
//! the request path itself is told in `pipeline`.

pub mod admin;
pub mod alarm;
pub mod answer;
pub mod auth;
pub mod body;
pub mod cli;
mod commands;
pub mod config;
pub mod envelope;
pub mod error;
pub mod error_chain;
#[cfg(test)]
mod house;
pub mod http1;
pub mod ids;
pub mod key_status;
pub mod keycheck;
pub mod memory;
pub mod metrics;
pub mod pipeline;
pub mod ratelimit;
pub mod reload;
pub mod rotation;
pub mod routes;
pub mod sandbox;
pub mod secret;
pub mod server;
pub mod shared_budget;
pub mod spec_cmd;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod upstream;
pub mod validate;
pub mod wake_time;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::{Cli, Command};
use crate::commands::{check, load, print_token, report, routes, run_sandbox, with_config};
use crate::config::ConfigError;
use crate::state::Gateway;

/// EX_CONFIG from sysexits.h: the configuration is wrong.
pub const EXIT_CONFIG: u8 = 78;
/// The process could not serve (e.g. the port is taken).
pub const EXIT_FAILURE: u8 = 1;

/// Runs a parsed command line; returns the process exit code.
pub async fn main(cli: Cli) -> u8 {
    match cli.command {
        Some(Command::Token) => {
            print_token();
            0
        }
        Some(Command::Check) => with_config(cli.config, check).await,
        Some(Command::Routes) => with_config(cli.config, routes).await,
        Some(Command::Sandbox { listen }) => with_config(cli.config, |path| run_sandbox(path, listen)).await,
        Some(Command::Spec { command }) => spec_cmd::run(command),
        Some(Command::Run) | None => {
            let workers = cli.workers.map_or_else(server::workers::default_count, usize::from);
            with_config(cli.config, |path| run(path, workers)).await
        }
    }
}

/// Serves until SIGTERM or SIGINT, on `workers` worker threads (see `server::workers`).
async fn run(path: PathBuf, workers: usize) -> u8 {
    // Absolute, so that the reload watches compare like with like.
    let path = std::path::absolute(&path).unwrap_or(path);
    // Before the state is built: it holds upstream connections per worker.
    worker::set_count(workers);
    let rt = match load(&path) {
        Ok(rt) => rt,
        Err(e) => return report(&path, &e),
    };
    let server_config = rt.config.server.clone();
    let inbound_tls = match server_config.tls.as_ref().map(tls::InboundTls::new).transpose() {
        Ok(tls) => tls.map(Arc::new),
        Err(e) => {
            let problem = config::Problem {
                path: "server.tls".into(),
                message: telemetry::error_chain(&e),
            };
            return report(
                &path,
                &ConfigError {
                    problems: vec![problem],
                },
            );
        }
    };
    let listeners = match server::workers::bind(server_config.listen, workers) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %server_config.listen, error = %e, "cannot bind the listener");
            return EXIT_FAILURE;
        }
    };
    let admin_listener = match server_config
        .admin_listen
        .map(|addr| server::workers::bind(addr, 1))
        .transpose()
    {
        Ok(l) => l.and_then(|mut l| l.pop()),
        Err(e) => {
            tracing::error!(error = %e, "cannot bind the admin listener");
            return EXIT_FAILURE;
        }
    };
    // From here a SIGTERM drains rather than kills.
    let signals = server::signals::Shutdown::listen();
    // Building the state did no I/O; now that it will serve, connect to Redis (if configured).
    rt.limits.connect();
    let gateway = Arc::new(Gateway::new(rt));
    let ready = Arc::new(admin::Readiness::default());
    let (stop_admin, admin_stopped) = tokio::sync::watch::channel(false);

    if let Some(listener) = admin_listener {
        log_listening("admin", listener.local_addr());
        let (gw, ready, mut stop) = (gateway.clone(), ready.clone(), admin_stopped);
        let serving = server::Serving {
            connections: server::connection_builder(&server_config),
            permits: Arc::new(tokio::sync::Semaphore::new(64)),
            grace: std::time::Duration::from_millis(100),
            handler: move |req, _peer| {
                let answering = admin::handle(gw.clone(), ready.clone(), req);
                async move { answer::Answer::from(answering.await) }
            },
            accepted: None,
        };
        // The admin port outlives draining so /readyz can report it; it stops last.
        tokio::spawn(server::serve(listener, serving, async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
    }

    reload::start(gateway.clone(), path);
    keycheck::start(gateway.clone());
    memory::start_giving_back();
    tracing::info!(workers = listeners.len(), "serving");
    log_listening("gateway", listeners[0].local_addr());
    ready.set(true);

    // One signal task tells every worker to stop accepting; each drains its own connections.
    let (drain, draining) = tokio::sync::watch::channel(false);
    {
        let gateway = gateway.clone();
        tokio::spawn(async move {
            signals.received().await;
            tracing::info!("shutdown signal received; draining");
            gateway.start_draining();
            let _ = drain.send(true);
        });
    }
    let mut connections = server::connection_builder(&server_config);
    if let Some(tls) = inbound_tls {
        tls.spawn_reloader(std::time::Duration::from_secs(2));
        connections = connections.with_tls(tls);
    }
    // `max_connections` bounds the process, whichever worker a connection lands on.
    let permits = Arc::new(tokio::sync::Semaphore::new(server_config.max_connections));
    let grace = server_config.shutdown_grace;
    server::workers::run(listeners, move |worker, listener| {
        // A handle of the worker's own (see `Gateway`).
        let gw = Arc::new(Gateway::clone(&gateway));
        let released = gw.clone();
        let serving = server::Serving {
            connections: connections.clone(),
            permits: permits.clone(),
            grace,
            // Not boxed here: an HTTP/1.1 connection keeps its requests' steps in a heap block
            // it reuses, and an HTTP/2 stream's task is one already.
            handler: move |req, _peer| pipeline::handle(gw.clone(), req),
            accepted: Some(gateway.metrics.worker_connections(worker)),
        };
        let mut draining = draining.clone();
        let serve = server::serve(listener, serving, async move {
            let _ = draining.wait_for(|d| *d).await;
        });
        async move {
            // An idle worker lets go of a swapped-out state at the reload, not at its next
            // request; the task ends with the worker's runtime.
            tokio::spawn(release_on_swap(released));
            serve.await
        }
    })
    .await;
    let _ = stop_admin.send(true);
    tracing::info!("stopped");
    0
}

/// Lets `gateway`'s hold on a swapped-out state go at each reload.
async fn release_on_swap(gateway: Arc<Gateway>) {
    let mut swaps = gateway.swaps();
    while swaps.changed().await.is_ok() {
        gateway.release_stale();
    }
}

fn log_listening(name: &str, addr: std::io::Result<std::net::SocketAddr>) {
    match addr {
        Ok(addr) => tracing::info!(listener = name, %addr, "listening"),
        Err(e) => tracing::warn!(listener = name, error = %e, "listening (address unknown)"),
    }
}
