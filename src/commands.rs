//! The commands other than `run`: `check` (every problem of a config, or what it makes),
//! `routes` (the endpoint table it makes), `token` (a caller token and its config line) and
//! `sandbox` (the Allo emulator alone), with what they share: finding the config, loading it,
//! and reporting its problems. `run` and the signals stay in `lib.rs`, where the serving is
//! wired.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;

use crate::answer::Answer;
use crate::body::full;
use crate::config::{self, ConfigError, Problem};
use crate::state::Runtime;
use crate::validate::BodyLimits;
use crate::{auth, sandbox, server, telemetry, tls, EXIT_CONFIG, EXIT_FAILURE};

/// Runs `f` with the config path, or exits 78 when none was given.
pub(crate) async fn with_config<F, Fut>(path: Option<PathBuf>, f: F) -> u8
where
    F: FnOnce(PathBuf) -> Fut,
    Fut: Future<Output = u8>,
{
    match path {
        Some(path) => f(path).await,
        None => {
            eprintln!("allo-gateway: no config file: pass --config PATH or set ALLO_GATEWAY_CONFIG");
            EXIT_CONFIG
        }
    }
}

/// Prints every problem, one a line, and returns the exit code for a bad config.
pub(crate) fn report(path: &Path, error: &ConfigError) -> u8 {
    eprintln!("allo-gateway: {} is not a valid configuration:", path.display());
    for problem in &error.problems {
        eprintln!("  - {problem}");
    }
    EXIT_CONFIG
}

/// Loads config and state; logging is set up from the config's `[log]` before secrets are
/// resolved so that their warnings are visible.
pub(crate) fn load(path: &Path) -> Result<Runtime, ConfigError> {
    let config = config::load(path)?;
    telemetry::init(config.log.format);
    Runtime::build(config)
}

/// `allo-gateway check`: what the config makes, or every problem in it.
pub(crate) async fn check(path: PathBuf) -> u8 {
    let rt = match check_all(&path) {
        Ok(rt) => rt,
        Err(problems) => return report(&path, &ConfigError { problems }),
    };
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

/// The running state the config makes, or every problem found on the way: the config's own,
/// then (the state resolves secrets only from a valid config) each team key that cannot be
/// read, so that one report names them all.
fn check_all(path: &Path) -> Result<Runtime, Vec<Problem>> {
    let (config, mut problems) = config::load_as_far_as_it_goes(path);
    let Some(config) = config else {
        return Err(problems);
    };
    telemetry::init(config.log.format);
    let secrets = config::unresolvable_secrets(&config, &problems);
    if problems.is_empty() {
        match Runtime::build(config) {
            Ok(rt) => match rt.config.server.tls.as_ref().map(tls::InboundTls::new) {
                Some(Err(e)) => problems.push(Problem {
                    path: "server.tls".into(),
                    message: telemetry::error_chain(&e),
                }),
                _ => return Ok(rt),
            },
            Err(e) => problems.extend(e.problems),
        }
    }
    // The state names the keys it reached; the others are added once.
    for secret in secrets {
        if !problems.iter().any(|p| p.path == secret.path) {
            problems.push(secret);
        }
    }
    Err(problems)
}

/// `allo-gateway routes`: the table the config makes, one line per operation.
pub(crate) async fn routes(path: PathBuf) -> u8 {
    let rt = match config::load(&path).and_then(Runtime::build) {
        Ok(rt) => rt,
        Err(e) => return report(&path, &e),
    };
    println!("# API description: {}", rt.routes.source());
    print!(
        "{}",
        crate::routes::listing(&rt.routes, &rt.config.callers, rt.config.api.validation)
    );
    0
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// `allo-gateway token`: a new caller token, shown once, and the line that admits it.
pub(crate) fn print_token() {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    println!("token (give this to the calling service; it is shown once):");
    println!("{token}");
    println!("config line (for its [[callers]] entry):");
    println!("token_sha256 = \"{}\"", auth::token_hash_hex(&token));
}

/// `allo-gateway sandbox`: the emulator alone on `listen`, with the teams' keys and the
/// `[server]` bounds of the config, until SIGTERM or SIGINT.
pub(crate) async fn run_sandbox(path: PathBuf, listen: std::net::SocketAddr) -> u8 {
    let rt = match load(&path) {
        Ok(rt) => rt,
        Err(e) => return report(&path, &e),
    };
    let keys = rt.teams.values().map(|t| (t.id.clone(), t.key.clone())).collect();
    let listener = match server::workers::bind(listen, 1).map(|mut l| l.pop()) {
        Ok(Some(l)) => l,
        Ok(None) => return EXIT_FAILURE,
        Err(e) => {
            tracing::error!(addr = %listen, error = %e, "cannot bind the sandbox listener");
            return EXIT_FAILURE;
        }
    };
    crate::log_listening("sandbox", listener.local_addr());
    let emulator = Arc::new(sandbox::Sandbox::with_routes(keys, rt.routes.clone()));
    let bounds = &rt.config.server;
    let limits = BodyLimits {
        max_bytes: bounds.max_body_bytes,
        timeout: bounds.body_read_timeout,
    };
    let handler = move |req, _peer| {
        let emulator = Arc::clone(&emulator);
        async move { Answer::from(emulator.answer(req, limits).await.map(full)) }
    };
    let serving = server::Serving {
        connections: server::connection_builder(bounds),
        permits: Arc::new(tokio::sync::Semaphore::new(bounds.max_connections)),
        grace: bounds.shutdown_grace,
        handler,
        accepted: None,
    };
    server::serve(listener, serving, server::signals::shutdown()).await;
    0
}
