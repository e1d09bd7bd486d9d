//! Metrics: what the pipeline, the reload loop and key rotation report, exposed in the
//! OpenMetrics text format on the admin listener (`prometheus-client` does the exposition).
//!
//! Label values come only from the config (caller, team and route ids) or from fixed sets
//! (statuses, budget names, results), never from request input, so the number of series is
//! bounded by the config: a request that was not authenticated counts under caller, team and
//! route `-`; an authenticated request to a path that is not an Allo endpoint counts under
//! route `unknown`. Nothing secret is ever a label value.
//!
//! What a request leaves is `record.rs`. The request series (`requests_total` and the two
//! latency histograms) are kept per worker and summed at scrape time (`series.rs`): the hot
//! path is one read-locked lookup, with a fast hash, in the worker's own cache, then plain
//! atomic adds no other thread makes. Label values share the config's ids instead of copying
//! them. Series are created on first use. Series of ids removed by a reload stay until restart
//! (their counters must not go backwards while Prometheus still scrapes them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::ratelimit::RedisStats;

mod api;
mod failures;
mod in_flight;
mod labels;
mod record;
mod series;

pub use api::DriftKind;
use failures::UpstreamFailures;
use in_flight::InFlightShards;
use labels::*;
pub use record::InFlight;
use series::WorkerSeries;

/// The `Content-Type` of `render()`'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Seconds: from 1 ms (a refusal) to the longest upstream timeout worth telling apart.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How a reload ended, for `allo_gateway_reloads_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadResult {
    /// The new config serves in full.
    Ok,
    /// The new config serves, but some team files were refused (their previous version, if
    /// any, keeps serving).
    Partial,
    /// The new config was refused; the previous one keeps serving.
    Error,
}

impl ReloadResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Ok => "ok",
            ReloadResult::Partial => "partial",
            ReloadResult::Error => "error",
        }
    }
}

/// Which of a team's keys is in use, for `allo_gateway_key_switches_total{to}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySlot {
    Primary,
    Fallback,
}

impl KeySlot {
    /// The config key that names this key.
    pub fn as_str(self) -> &'static str {
        match self {
            KeySlot::Primary => "api_key",
            KeySlot::Fallback => "api_key_fallback",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    in_flight: InFlightShards,
    rate_limited: Family<RateLimitLabels, Counter>,
    validation_refusals: Family<ValidationLabels, Counter>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    upstream_failures: UpstreamFailures,
    reloads: Family<ResultLabels, Counter>,
    last_reload_ok: Gauge,
    team_files_refused: Gauge,
    key_switches: Family<KeySwitchLabels, Counter>,
    validation_reported: Family<ReportedLabels, Counter>,
    spec_drift: Family<DriftLabels, Counter>,
    /// When each route's drift was last logged (a warn line at most once a minute per route).
    drift_logged: Mutex<HashMap<Arc<str>, Instant>>,
    team_key_valid: Family<TeamLabels, Gauge>,
    worker_connections: Family<WorkerLabels, Counter>,
    /// Requests and their latencies, per worker.
    series: WorkerSeries,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("allo_gateway"),
            in_flight: InFlightShards::new(),
            rate_limited: Family::default(),
            validation_refusals: Family::default(),
            upstream_errors: Family::default(),
            upstream_failures: UpstreamFailures::new(),
            reloads: Family::default(),
            last_reload_ok: Gauge::default(),
            team_files_refused: Gauge::default(),
            key_switches: Family::default(),
            validation_reported: Family::default(),
            spec_drift: Family::default(),
            drift_logged: Mutex::default(),
            team_key_valid: Family::default(),
            worker_connections: Family::default(),
            series: WorkerSeries::new(),
        };
        m.last_reload_ok.set(1);
        // Present from the start, so that `increase()` sees the first reload of each result.
        for result in [ReloadResult::Ok, ReloadResult::Partial, ReloadResult::Error] {
            let _ = m.reloads.get_or_create(&ResultLabels {
                result: result.as_str(),
            });
        }
        let r = &mut m.registry;
        r.register_collector(Box::new(m.series.clone()));
        r.register_collector(Box::new(m.in_flight.clone()));
        r.register(
            "rate_limited",
            "Requests refused with RATE_LIMIT_EXCEEDED, by the budget that refused them (caller or team)",
            m.rate_limited.clone(),
        );
        r.register(
            "validation_refusals",
            "Requests refused by validation (body, query, size, media type), by route id and code",
            m.validation_refusals.clone(),
        );
        r.register(
            "upstream_errors",
            "Requests the upstream could not answer (kind: unavailable = connection, TLS or protocol failure; timeout)",
            m.upstream_errors.clone(),
        );
        r.register(
            "upstream_failures",
            "Upstream exchanges that failed, by kind (tls, connect, reset, timeout, goaway, protocol, other)",
            m.upstream_failures.counts.clone(),
        );
        r.register(
            "reloads",
            "Configuration reloads, by result (ok, partial = some team files refused, error = refused)",
            m.reloads.clone(),
        );
        r.register(
            "config_last_reload_successful",
            "1 if the last reload applied in full (or none was attempted), else 0",
            m.last_reload_ok.clone(),
        );
        r.register(
            "team_files_refused",
            "Team files (teams_dir) refused by the last reload",
            m.team_files_refused.clone(),
        );
        r.register(
            "key_switches",
            "Switches of a team to its other Allo key after Allo refused one, by team and the key switched to",
            m.key_switches.clone(),
        );
        r.register(
            "validation_reported",
            "Requests that failed validation and were forwarded anyway (validation = \"report\"), by route id and caller",
            m.validation_reported.clone(),
        );
        r.register(
            "spec_drift",
            "Answers that show Allo's API differs from the description in force, by route id and kind (refused_valid, route_gone)",
            m.spec_drift.clone(),
        );
        r.register(
            "team_key_valid",
            "What Allo said of the team's key at the last check (verify_keys): 1 valid, 0 refused, -1 unknown (Allo unreachable or failing)",
            m.team_key_valid.clone(),
        );
        r.register(
            "worker_connections",
            "Connections accepted, by worker (--workers): how the kernel spreads them",
            m.worker_connections.clone(),
        );
        m
    }

    /// The counter of connections accepted by `worker`, taken once by its accept loop (each
    /// worker's on its own allocation, so no cache line is shared between them).
    pub fn worker_connections(&self, worker: usize) -> Counter {
        let worker = u64::try_from(worker).unwrap_or(u64::MAX);
        self.worker_connections.get_or_create_owned(&WorkerLabels { worker })
    }

    /// An exchange with `upstream` that failed: counted by kind, and logged with its cause
    /// at most once a minute per kind.
    pub fn upstream_failure(&self, upstream: &str, error: &crate::upstream::UpstreamError) {
        self.upstream_failures.record(upstream, error, Instant::now());
    }

    /// One reload attempt; `refused_team_files` is how many team files it left out.
    pub fn reload(&self, result: ReloadResult, refused_team_files: usize) {
        self.reloads
            .get_or_create(&ResultLabels {
                result: result.as_str(),
            })
            .inc();
        self.last_reload_ok.set(i64::from(result == ReloadResult::Ok));
        if result != ReloadResult::Error {
            self.team_files_refused
                .set(i64::try_from(refused_team_files).unwrap_or(i64::MAX));
        }
    }

    /// A team switched to its other key.
    pub fn key_switch(&self, team: &str, to: KeySlot) {
        self.key_switches
            .get_or_create(&KeySwitchLabels {
                team: team.to_owned(),
                to: to.as_str(),
            })
            .inc();
    }

    /// The state of a team's key as Allo last described it: `Some(valid)`, or `None` when the
    /// last check could not tell.
    pub fn team_key(&self, team: &str, valid: Option<bool>) {
        let value = valid.map_or(-1, i64::from);
        self.team_key_valid
            .get_or_create(&TeamLabels { team: team.to_owned() })
            .set(value);
    }

    /// Drops the series of a team no longer configured, or no longer checked: a stale 1 would
    /// vouch for a key nobody asks about.
    pub fn forget_team_key(&self, team: &str) {
        self.team_key_valid.remove(&TeamLabels { team: team.to_owned() });
    }

    /// Exposes the shared team budgets' Redis counters (zero while `[ratelimit.redis]` is not
    /// set), read at each scrape from `stats`, which every reload carries over.
    pub fn watch_redis(&mut self, stats: Arc<RedisStats>) {
        self.registry.register_collector(Box::new(RedisCounters(stats)));
    }

    /// The text exposition for `/metrics`.
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        text
    }
}

/// `allo_gateway_redis_errors_total` and `allo_gateway_redis_fallbacks_total`.
#[derive(Debug)]
struct RedisCounters(Arc<RedisStats>);

impl Collector for RedisCounters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counters = [
            ("redis_errors", "Redis calls for shared team budgets that failed or timed out", self.0.errors()),
            (
                "redis_fallbacks",
                "Team-budget decisions Redis could not make: made on the local budget (failure_mode open) or refused with 503 (closed)",
                self.0.fallbacks(),
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
