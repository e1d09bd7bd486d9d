//! The running state built from a validated `Config`: secrets resolved, schemas compiled,
//! callers indexed, limiters and the upstream client created. Building it is the last step of
//! loading a config, so problems found here (an unset env var, an unknown scope) are reported
//! with their key paths like any other config problem. `Gateway` holds the current state
//! behind an atomic pointer so a reload can swap it while requests finish on the old one; what
//! must outlive a config (spent rate-limit budgets, which key of a team works, the metrics)
//! is handed from the old state to the new one by `Runtime::inherit`. What Allo said about
//! each team's key (`keycheck`) lives in the `Gateway` itself, beside the metrics, so no
//! reload drops it; each swap is announced (`Gateway::swaps`) so the key check runs again.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::auth::Callers;
use crate::config::{Config, ConfigError, Problems, UpstreamTarget};
use crate::ids::IdMap;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimits;
use crate::routes::{Description, RoutePattern, RouteTable, Rules};
use crate::sandbox::Sandbox;
use crate::secret::{Secret, SecretSource};
use crate::upstream::Upstream;

/// A team as the pipeline needs it.
#[derive(Debug)]
pub struct Team {
    pub id: String,
    pub key: Secret,
    pub fallback: Option<Secret>,
    /// Whether requests go out with `fallback` first, because Allo refused `key` (see
    /// `rotation`). Kept across reloads while both keys stay the same.
    pub prefer_fallback: AtomicBool,
    /// The team's requests upstream at once (`server.max_in_flight_per_team`), each holding a
    /// slot until its response body is done.
    pub in_flight: Arc<Slots>,
}

pub struct Runtime {
    pub config: Config,
    /// The endpoint table: the API description in force with the rules laid over it.
    pub routes: Arc<RouteTable>,
    pub callers: Callers,
    pub teams: IdMap<Team>,
    pub limits: RateLimits,
    /// Shared with the next state when a reload leaves `[upstream]` (and, for the sandbox, the
    /// teams' keys) unchanged, so pooled connections and the emulator's state survive.
    pub upstream: Arc<Upstream>,
    /// The process's metrics (one set for the process's life; see `inherit`).
    pub metrics: Arc<Metrics>,
}

impl Runtime {
    /// Resolves and compiles everything `config` names, reporting every problem.
    pub fn build(config: Config) -> Result<Runtime, ConfigError> {
        let mut p = Problems::default();
        let Some(routes) = route_table(&config, &mut p) else {
            return p.into_result_err();
        };
        check_caller_permissions(&config, &routes, &mut p);
        check_unique(&config, &mut p);
        let mut teams = IdMap::default();
        let slots = config.server.max_in_flight_per_team;
        for t in &config.teams {
            let sep = if t.origin.ends_with(':') { "" } else { "." };
            let key = resolve(&mut p, &format!("{}{sep}api_key", t.origin), &t.api_key, &t.id);
            let fallback = t
                .api_key_fallback
                .as_ref()
                .map(|s| resolve(&mut p, &format!("{}{sep}api_key_fallback", t.origin), s, &t.id));
            teams.insert(
                t.id.clone(),
                Team {
                    id: t.id.clone(),
                    key,
                    fallback,
                    prefer_fallback: AtomicBool::new(false),
                    in_flight: Arc::new(Slots::new(slots)),
                },
            );
        }
        let sandbox = (config.upstream.target == UpstreamTarget::Sandbox).then(|| {
            let keys = teams.values().map(|t| (t.id.clone(), t.key.clone())).collect();
            Arc::new(Sandbox::with_routes(keys, routes.clone()))
        });
        let upstream = match Upstream::new(&config.upstream, sandbox) {
            Ok(upstream) => Some(Arc::new(upstream)),
            Err(e) => {
                p.push("upstream", crate::telemetry::error_chain(&e));
                None
            }
        };
        let callers = Callers::new(&config.callers, config.api.validation);
        let limits = RateLimits::new(&config);
        let mut metrics = Metrics::new();
        // The counters live as long as the first state's limiter (carried over by every
        // reload), as the metrics do (see `inherit`).
        metrics.watch_redis(limits.redis_stats());
        match upstream {
            Some(upstream) => p.into_result(Runtime {
                config,
                routes,
                callers,
                teams,
                limits,
                upstream,
                metrics: Arc::new(metrics),
            }),
            None => p.into_result_err(),
        }
    }

    /// Takes over from `previous`, the state this one replaces: the rate-limit state of every
    /// identity that is still configured (`RateLimits::carry_over`), each team's key
    /// preference when both its keys are unchanged, and the process's metrics.
    pub fn inherit(&mut self, previous: &Runtime) {
        self.limits = previous.limits.carry_over(&self.config);
        // Requests in flight across a reload still count, unless the bound itself changed.
        let same_bound = previous.config.server.max_in_flight_per_team == self.config.server.max_in_flight_per_team;
        for team in self.teams.values_mut() {
            let Some(old) = previous.teams.get(&team.id) else {
                continue;
            };
            if old.key == team.key && old.fallback == team.fallback {
                let prefer = old.prefer_fallback.load(Ordering::Relaxed);
                team.prefer_fallback.store(prefer, Ordering::Relaxed);
            }
            if same_bound {
                team.in_flight = old.in_flight.clone();
            }
        }
        self.metrics = previous.metrics.clone();
        if self.same_upstream(previous) {
            self.upstream = previous.upstream.clone();
        }
    }

    /// Whether `previous`'s upstream can serve this state: same settings, no CA file whose
    /// contents may have changed, and for the sandbox the same teams and keys.
    fn same_upstream(&self, previous: &Runtime) -> bool {
        let (new, old) = (&self.config.upstream, &previous.config.upstream);
        if new != old || new.ca_file.is_some() {
            return false;
        }
        if new.target != UpstreamTarget::Sandbox {
            return true;
        }
        self.teams.len() == previous.teams.len()
            && self
                .teams
                .values()
                .all(|t| previous.teams.get(&t.id).is_some_and(|old| old.key == t.key))
    }
}

fn resolve(p: &mut Problems, path: &str, source: &SecretSource, team: &str) -> Secret {
    if matches!(source, SecretSource::Value(_)) {
        tracing::warn!(
            team,
            key = path,
            "a team key is written in the config file; put it in an env var or a mounted file"
        );
    }
    source.resolve().unwrap_or_else(|e| {
        p.push(path, e.to_string());
        Secret::new("")
    })
}

/// The API description (`[api] spec`, else the built-in one) with the built-in rules and
/// `[api] rules` laid over it; every problem under `api.spec` or `api.rules`.
fn route_table(config: &Config, p: &mut Problems) -> Option<Arc<RouteTable>> {
    let description = match &config.api.spec {
        Some(path) => Description::load(path),
        None => Description::builtin(),
    };
    let description = match description {
        Ok(d) => Some(d),
        Err(e) => {
            let file = config.api.spec.as_ref().map(|f| format!("{}: ", f.display()));
            for problem in e.problems {
                p.push("api.spec", format!("{}{problem}", file.as_deref().unwrap_or("")));
            }
            None
        }
    };
    let rules = match &config.api.rules {
        Some(path) => match Rules::load(path) {
            Ok(rules) => Some(rules),
            Err(problems) => {
                for problem in problems {
                    p.push("api.rules", problem.to_string());
                }
                None
            }
        },
        None => Some(Rules::default()),
    };
    let (description, rules) = (description?, rules?);
    match RouteTable::build(&description, &rules, config.routes.unknown_fields) {
        Ok(table) => Some(Arc::new(table)),
        Err(e) => {
            for problem in e.problems {
                let key = if problem.contains("rules: ")
                    || config
                        .api
                        .rules
                        .as_ref()
                        .is_some_and(|r| problem.starts_with(&r.display().to_string()))
                {
                    "api.rules"
                } else {
                    "api.spec"
                };
                p.push(key, problem);
            }
            None
        }
    }
}

fn check_caller_permissions(config: &Config, routes: &RouteTable, p: &mut Problems) {
    for caller in &config.callers {
        let path = &caller.origin;
        for scope in caller.scopes.iter().flatten() {
            if !routes.scopes().contains(scope) {
                p.push(format!("{path}.scopes"), format!("unknown scope {scope:?}"));
            }
        }
        for pattern in caller.routes.iter().flatten() {
            let parsed = RoutePattern::parse(pattern);
            if !routes.routes().any(|r| parsed.matches(&r.id)) {
                p.push(
                    format!("{path}.routes"),
                    format!("{pattern:?} names no endpoint (ids look like \"users.list\" or \"dialingQueues.*\")"),
                );
            }
        }
    }
}

/// Ids and token hashes are unique. `config` checks this for what it loads; a reload that
/// keeps the previous version of a refused team file assembles a config from two loads, and
/// this catches the clash (reported at the later entry, the one kept from before).
fn check_unique(config: &Config, p: &mut Problems) {
    let mut teams = HashSet::new();
    for team in &config.teams {
        if !team.id.is_empty() && !teams.insert(team.id.as_str()) {
            let sep = if team.origin.ends_with(':') { "" } else { "." };
            p.push(
                format!("{}{sep}id", team.origin),
                format!("team id {:?} is used more than once", team.id),
            );
        }
    }
    let (mut ids, mut tokens) = (HashSet::new(), HashSet::new());
    for caller in &config.callers {
        if !caller.id.is_empty() && !ids.insert(caller.id.as_str()) {
            p.push(
                format!("{}.id", caller.origin),
                format!("caller id {:?} is used more than once", caller.id),
            );
        }
        if caller.token_sha256.is_some_and(|digest| !tokens.insert(digest)) {
            p.push(
                format!("{}.token_sha256", caller.origin),
                "the same token hash is given to two callers",
            );
        }
    }
}

/// Loads, validates and builds: the single path used by `run`, `check` and reloads.
pub fn load(path: &std::path::Path) -> Result<Runtime, ConfigError> {
    Runtime::build(crate::config::load(path)?)
}

mod gateway;
mod slots;
pub use gateway::{Gateway, Serving};
pub use slots::{OwnedSlot, Slot, Slots};

#[cfg(test)]
mod tests;
