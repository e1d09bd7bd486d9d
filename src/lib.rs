//! allo-gateway: an authenticating, validating, rate-limiting reverse proxy for the Allo API,
//! run as a sidecar. `main` is the entry point shared by the binary and the tests' processes;
//! the request path itself is told in `pipeline`.

pub mod admin;
pub mod alarm;
pub mod answer;
pub mod auth;
pub mod body;
pub mod cli;
pub mod config;
pub mod envelope;
pub mod error;
pub mod http1;
pub mod ids;
pub mod keycheck;
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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;

use crate::cli::{Cli, Command};
use crate::config::ConfigError;
use crate::state::{Gateway, Runtime};

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
        Some(Command::Run) | None => with_config(cli.config, run).await,
    }
}

async fn with_config<F, Fut>(path: Option<PathBuf>, f: F) -> u8
where
    F: FnOnce(PathBuf) -> Fut,
    Fut: std::future::Future<Output = u8>,
{
    match path {
        Some(path) => f(path).await,
        None => {
            eprintln!("allo-gateway: no config file: pass --config PATH or set ALLO_GATEWAY_CONFIG");
            EXIT_CONFIG
        }
    }
}

fn report(path: &Path, error: &ConfigError) -> u8 {
    eprintln!("allo-gateway: {} is not a valid configuration:", path.display());
    for problem in &error.problems {
        eprintln!("  - {problem}");
    }
    EXIT_CONFIG
}

/// Loads config and state; logging is set up from the config's `[log]` before secrets are
/// resolved so that their warnings are visible.
fn load(path: &Path) -> Result<Runtime, ConfigError> {
    let config = config::load(path)?;
    telemetry::init(config.log.format);
    Runtime::build(config)
}

async fn check(path: PathBuf) -> u8 {
    let loaded = load(&path).and_then(|rt| match rt.config.server.tls.as_ref().map(tls::InboundTls::new) {
        Some(Err(e)) => {
            let problem = config::Problem {
                path: "server.tls".into(),
                message: telemetry::error_chain(&e),
            };
            Err(ConfigError {
                problems: vec![problem],
            })
        }
        _ => Ok(rt),
    });
    match loaded {
        Ok(rt) => {
            println!("configuration OK: {}", path.display());
            println!(
                "  teams:   {} ({})",
                rt.teams.len(),
                join(rt.config.teams.iter().map(|t| t.id.as_str()))
            );
            println!(
                "  callers: {} ({})",
                rt.config.callers.len(),
                join(rt.config.callers.iter().map(|c| c.id.as_str()))
            );
            println!(
                "  routes:  {} Allo endpoints, unknown paths {:?}",
                rt.routes.len(),
                rt.config.routes.unknown
            );
            println!("  api:     {}", rt.routes.source());
            if let Some(rules) = &rt.config.api.rules {
                println!("  rules:   built-in, then {}", rules.display());
            }
            println!("  validation: {:?}", rt.config.api.validation);
            println!("  listen:  {}", rt.config.server.listen);
            0
        }
        Err(e) => report(&path, &e),
    }
}

/// `allo-gateway routes`: the table the config makes, one line per operation.
async fn routes(path: PathBuf) -> u8 {
    let rt = match config::load(&path).and_then(Runtime::build) {
        Ok(rt) => rt,
        Err(e) => return report(&path, &e),
    };
    println!("# API description: {}", rt.routes.source());
    print!(
        "{}",
        routes::listing(&rt.routes, &rt.config.callers, rt.config.api.validation)
    );
    0
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

fn print_token() {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    println!("token (give this to the calling service; it is shown once):");
    println!("{token}");
    println!("config line (for its [[callers]] entry):");
    println!("token_sha256 = \"{}\"", auth::token_hash_hex(&token));
}

async fn run(path: PathBuf) -> u8 {
    // Absolute, so that the reload watches compare like with like.
    let path = std::path::absolute(&path).unwrap_or(path);
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
    let listener = match server::bind(server_config.listen) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %server_config.listen, error = %e, "cannot bind the listener");
            return EXIT_FAILURE;
        }
    };
    let admin_listener = match server_config.admin_listen.map(server::bind).transpose() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot bind the admin listener");
            return EXIT_FAILURE;
        }
    };
    // Building the state did no I/O; now that it will serve, connect to Redis (if configured).
    rt.limits.connect();
    let gateway = Arc::new(Gateway::new(rt));
    let ready = Arc::new(admin::Readiness::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

    if let Some(listener) = admin_listener {
        log_listening("admin", &listener);
        let (gw, ready, mut stop) = (gateway.clone(), ready.clone(), stop_rx.clone());
        let builder = server::connection_builder(&server_config);
        tokio::spawn(async move {
            let handler = move |req, _peer| {
                let answering = admin::handle(gw.clone(), ready.clone(), req);
                async move { answer::Answer::from(answering.await) }
            };
            // The admin port outlives draining so /readyz can report it; it stops last.
            server::serve(
                listener,
                builder,
                64,
                std::time::Duration::from_millis(100),
                handler,
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            )
            .await;
        });
    }

    reload::start(gateway.clone(), path);
    keycheck::start(gateway.clone());
    log_listening("gateway", &listener);
    ready.set(true);
    let gw = gateway.clone();
    // Each request's steps in a heap block of their own: freed and reused by the next request
    // on any connection, so it is warm, where a slot in each connection's state is cold when a
    // quiet connection's next request comes.
    let handler = move |req, _peer| Box::pin(pipeline::handle(gw.clone(), req));
    let signals = {
        let gateway = gateway.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutdown signal received; draining");
            gateway.start_draining();
        }
    };
    let mut builder = server::connection_builder(&server_config);
    if let Some(tls) = inbound_tls {
        tls.spawn_reloader(std::time::Duration::from_secs(2));
        builder = builder.with_tls(tls);
    }
    server::serve(
        listener,
        builder,
        server_config.max_connections,
        server_config.shutdown_grace,
        handler,
        signals,
    )
    .await;
    let _ = stop_tx.send(true);
    tracing::info!("stopped");
    0
}

fn log_listening(name: &str, listener: &tokio::net::TcpListener) {
    match listener.local_addr() {
        Ok(addr) => tracing::info!(listener = name, %addr, "listening"),
        Err(e) => tracing::warn!(listener = name, error = %e, "listening (address unknown)"),
    }
}

async fn run_sandbox(path: PathBuf, listen: std::net::SocketAddr) -> u8 {
    let rt = match load(&path) {
        Ok(rt) => rt,
        Err(e) => return report(&path, &e),
    };
    let keys = rt.teams.values().map(|t| (t.id.clone(), t.key.clone())).collect();
    let listener = match server::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %listen, error = %e, "cannot bind the sandbox listener");
            return EXIT_FAILURE;
        }
    };
    log_listening("sandbox", &listener);
    let emulator = sandbox::Sandbox::with_routes(keys, rt.routes.clone());
    match sandbox::serve(listener, Arc::new(emulator), shutdown_signal()).await {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = %e, "sandbox failed");
            EXIT_FAILURE
        }
    }
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
