//! Hot reload: on SIGHUP, or when the config file, a file in `teams_dir`, a `file` secret,
//! the `ca_file`, or the API description or rules file (`[api] spec`, `rules`) changes, the config is loaded again through the same path as at startup
//! (`config::load`, then `Runtime::build`: every secret resolved, every schema compiled) and,
//! if valid, swapped in atomically (`Gateway::swap`). Requests in flight finish on the state
//! they started with; rate-limit budgets, key preferences and metrics carry over
//! (`Runtime::inherit`). An invalid config is refused, each problem logged, counted in
//! `allo_gateway_reloads_total{result="error"}`, and the previous one keeps serving.
//!
//! A team file (`teams_dir`) with problems is refused on its own: the reload goes ahead
//! without it, keeping that file's previous version if it had one, so one team's mistake never
//! blocks another team's change (`result="partial"`). At startup there is no previous version
//! to keep, so there every problem is fatal (exit 78), as `check` reports it.
//!
//! Files are watched through their parent folders, not the files: editors and Kubernetes
//! replace files rather than write them (a mounted ConfigMap or Secret is swapped through its
//! `..data` symlink), and a watch on the old inode would go quiet. Events are debounced, and
//! the watch list follows the config after each successful reload. Listener addresses,
//! connection bounds and the log format are read once at startup: a change to them is logged
//! as needing a restart and otherwise ignored.

mod load;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::{Config, ConfigError, Problem};
use crate::metrics::ReloadResult;
use crate::state::Gateway;
pub use load::{load, Loaded, RefusedTeamFile};
use watch::watch;

/// A burst of file events settles when none has come for this long...
const QUIET: Duration = Duration::from_millis(200);
/// ...or, for a folder that never stops changing, after this long.
const MAX_SETTLE: Duration = Duration::from_secs(2);

/// Starts reloading on SIGHUP and on file changes, for as long as the process runs. The
/// SIGHUP handler is installed before this returns, so from then on SIGHUP never ends the
/// process. `config_path` should be absolute (it is compared with watched paths).
pub fn start(gateway: Arc<Gateway>, config_path: PathBuf) {
    let hangup = hangup_signal();
    let (tx, rx) = mpsc::channel(1);
    let watcher = watch(&config_path, &gateway.runtime().config, &tx);
    tokio::spawn(run(gateway, config_path, hangup, tx, rx, watcher));
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::hangup())
        .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP; reload on file changes only"))
        .ok()
}

#[cfg(not(unix))]
fn hangup_signal() -> Hangup {
    None
}

async fn hangup(signal: &mut Hangup) {
    #[cfg(unix)]
    if let Some(signal) = signal {
        if signal.recv().await.is_some() {
            return;
        }
    }
    let _ = signal;
    std::future::pending::<()>().await;
}

async fn run(
    gateway: Arc<Gateway>,
    path: PathBuf,
    mut signal: Hangup,
    tx: mpsc::Sender<()>,
    mut changes: mpsc::Receiver<()>,
    watcher: Option<notify::RecommendedWatcher>,
) {
    // Dropping the watcher ends its watches: it lives as long as this loop.
    let mut _watcher = watcher;
    loop {
        let trigger = tokio::select! {
            () = hangup(&mut signal) => "SIGHUP",
            Some(()) = changes.recv() => {
                settle(&mut changes).await;
                "file change"
            }
        };
        if reload(&gateway, &path, trigger).await {
            // Replace the watches only once the new ones are set, so no change is missed.
            let new = watch(&path, &gateway.runtime().config, &tx);
            if new.is_some() {
                _watcher = new;
            }
        }
    }
}

/// Waits for a burst of file events to end.
async fn settle(changes: &mut mpsc::Receiver<()>) {
    let deadline = Instant::now() + MAX_SETTLE;
    loop {
        let until = (Instant::now() + QUIET).min(deadline);
        match tokio::time::timeout_at(until, changes.recv()).await {
            Ok(Some(())) if Instant::now() < deadline => continue,
            _ => return,
        }
    }
}

/// One reload attempt; whether a new config now serves.
pub async fn reload(gateway: &Gateway, path: &Path, trigger: &'static str) -> bool {
    let previous = gateway.runtime();
    let loaded = {
        let (path, previous) = (path.to_owned(), previous.clone());
        // Reading files and compiling schemas blocks; keep it off the request workers.
        tokio::task::spawn_blocking(move || load(&path, &previous.config)).await
    };
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(e) => Err(ConfigError {
            problems: vec![Problem {
                path: "(reload)".into(),
                message: format!("the reload task failed: {e}"),
            }],
        }),
    };
    match loaded {
        Ok(Loaded { runtime, refused }) => {
            for key in restart_needed(&previous.config, &runtime.config) {
                tracing::warn!(key, "changed in the config, but takes effect only after a restart");
            }
            for file in &refused {
                let outcome = if file.kept_previous {
                    "team file refused; its previous version keeps serving"
                } else {
                    "team file refused; its team is not served"
                };
                for problem in &file.problems {
                    tracing::error!(file = %file.name, path = %problem.path, problem = %problem.message, "{outcome}");
                }
            }
            let (teams, callers) = (runtime.config.teams.len(), runtime.config.callers.len());
            gateway.swap(runtime);
            let result = if refused.is_empty() {
                ReloadResult::Ok
            } else {
                ReloadResult::Partial
            };
            gateway.metrics.reload(result, refused.len());
            tracing::info!(
                trigger,
                teams,
                callers,
                refused_team_files = refused.len(),
                "configuration reloaded"
            );
            true
        }
        Err(error) => {
            gateway.metrics.reload(ReloadResult::Error, 0);
            tracing::error!(
                trigger,
                problems = error.problems.len(),
                "configuration reload refused; the previous configuration keeps serving"
            );
            for problem in &error.problems {
                tracing::error!(path = %problem.path, problem = %problem.message, "configuration problem");
            }
            false
        }
    }
}

/// Config keys read only at startup that differ between `old` and `new`.
fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (&old.server, &new.server);
    let mut keys = Vec::new();
    let mut check = |key, changed: bool| {
        if changed {
            keys.push(key);
        }
    };
    check("server.listen", o.listen != n.listen);
    check("server.admin_listen", o.admin_listen != n.admin_listen);
    check("server.max_header_bytes", o.max_header_bytes != n.max_header_bytes);
    check("server.max_headers", o.max_headers != n.max_headers);
    check(
        "server.header_read_timeout",
        o.header_read_timeout != n.header_read_timeout,
    );
    check("server.idle_timeout", o.idle_timeout != n.idle_timeout);
    check("server.shutdown_grace", o.shutdown_grace != n.shutdown_grace);
    check("server.max_connections", o.max_connections != n.max_connections);
    check(
        "server.max_in_flight_per_team",
        o.max_in_flight_per_team != n.max_in_flight_per_team,
    );
    check("log.format", old.log.format != new.log.format);
    keys
}
