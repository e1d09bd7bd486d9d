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

mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::{self, Config, ConfigError, Problem};
use crate::metrics::ReloadResult;
use crate::state::{Gateway, Runtime};
use watch::watch;

/// A burst of file events settles when none has come for this long...
const QUIET: Duration = Duration::from_millis(200);
/// ...or, for a folder that never stops changing, after this long.
const MAX_SETTLE: Duration = Duration::from_secs(2);

/// What a successful reload produced.
pub struct Loaded {
    pub runtime: Runtime,
    /// Team files left out, by file name in `teams_dir`.
    pub refused: Vec<RefusedTeamFile>,
}

pub struct RefusedTeamFile {
    pub name: String,
    pub problems: Vec<Problem>,
    /// Whether the file's previous version keeps serving (else its team is not served).
    pub kept_previous: bool,
}

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

/// Loads the config at `path` as at startup, except that a team file with problems is left
/// out (keeping its version from `previous`, if any) instead of failing the whole load.
/// Fails if any problem is not a team file's.
pub fn load(path: &Path, previous: &Config) -> Result<Loaded, ConfigError> {
    let mut skip = BTreeSet::new();
    let mut without_previous = BTreeSet::new();
    let mut refused: BTreeMap<String, Vec<Problem>> = BTreeMap::new();
    loop {
        let config = config::load_skipping(path, &skip);
        let attempt = config.and_then(|mut config| {
            keep_previous(&mut config, previous, &skip, &without_previous);
            Runtime::build(config)
        });
        let error = match attempt {
            Ok(runtime) => {
                let refused = refused
                    .into_iter()
                    .map(|(name, problems)| RefusedTeamFile {
                        kept_previous: !without_previous.contains(&name) && from_file(previous, &name).next().is_some(),
                        name,
                        problems,
                    })
                    .collect();
                return Ok(Loaded { runtime, refused });
            }
            Err(error) => error,
        };
        // Each pass leaves out at least one more file (or its previous version), so this ends.
        let mut progress = false;
        let mut global = Vec::new();
        for problem in error.problems {
            match team_file(&problem.path).map(str::to_owned) {
                Some(name) if skip.insert(name.clone()) => {
                    refused.entry(name).or_default().push(problem);
                    progress = true;
                }
                // The previous version, kept, no longer loads (e.g. its secret file is gone).
                Some(name) if without_previous.insert(name.clone()) => {
                    refused.entry(name).or_default().push(problem);
                    progress = true;
                }
                _ => global.push(problem),
            }
        }
        if !global.is_empty() || !progress {
            return Err(all_problems(global, refused));
        }
    }
}

/// `config::load`, leaving out the team files named in `skip`; `None` when that cannot be
/// done.
fn all_problems(mut global: Vec<Problem>, refused: BTreeMap<String, Vec<Problem>>) -> ConfigError {
    global.extend(refused.into_values().flatten());
    if global.is_empty() {
        global.push(Problem {
            path: "(config)".into(),
            message: "could not be loaded".into(),
        });
    }
    ConfigError { problems: global }
}

/// The team file a problem is located in (`teams_dir/sales.toml:callers[0].id` ->
/// `sales.toml`), as `config` and `state` write problem paths.
fn team_file(problem_path: &str) -> Option<&str> {
    let rest = problem_path.strip_prefix("teams_dir/")?;
    rest.split(':').next().filter(|name| !name.is_empty())
}

/// What team file `name` contributed to `config` (the origin of its team and callers).
fn from_file<'a>(config: &'a Config, name: &str) -> impl Iterator<Item = &'a str> + 'a {
    let prefix = format!("teams_dir/{name}:");
    config
        .teams
        .iter()
        .map(|t| t.origin.as_str())
        .chain(config.callers.iter().map(|c| c.origin.as_str()))
        .filter(move |origin| origin.starts_with(&prefix))
}

/// Puts back the previous version of each left-out team file into `config`.
fn keep_previous(config: &mut Config, previous: &Config, skip: &BTreeSet<String>, without: &BTreeSet<String>) {
    if config.teams_dir != previous.teams_dir {
        return;
    }
    for name in skip.difference(without) {
        let prefix = format!("teams_dir/{name}:");
        let ours = |origin: &str| origin.starts_with(&prefix);
        config
            .teams
            .extend(previous.teams.iter().filter(|t| ours(&t.origin)).cloned());
        config
            .callers
            .extend(previous.callers.iter().filter(|c| ours(&c.origin)).cloned());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_attributed_to_team_files() {
        assert_eq!(team_file("teams_dir/sales.toml:callers[0].id"), Some("sales.toml"));
        assert_eq!(team_file("teams_dir/sales.toml:line 3"), Some("sales.toml"));
        assert_eq!(team_file("teams_dir/sales.toml"), Some("sales.toml"));
        assert_eq!(team_file("teams_dir"), None);
        assert_eq!(team_file("callers[0].id"), None);
    }
}
