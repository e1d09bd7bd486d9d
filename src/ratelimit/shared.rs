//! Team budgets shared by every instance through Redis (`[ratelimit.redis]`), as this instance
//! sees them: Redis decides (one round trip to shared_budget's GCRA script), and when it
//! cannot, `failure_mode` does: `open` lets the local budget decide, `closed` refuses (503).
//! Caller limits never come here; they stay per instance.
//!
//! Redis being down must not cost every request the timeout, so a **circuit breaker** sits in
//! front of it: after a failed call, Redis is skipped for `BREAKER_OPEN` (1 s; decisions go
//! straight to the failure mode), then the next request probes it (one probe at a time; the
//! others keep using the failure mode). A successful probe shares the budgets again. The
//! connection itself is re-established in the background by the client.
//!
//! Allo's signals seen here are pushed to Redis (`pause`, fire and forget, bounded by the
//! timeout) so that every instance holds the team, not only the one that got the 429; while
//! the breaker is open they are not pushed (each instance still learns from Allo itself).
//!
//! The client (and its breaker) is kept across reloads while the resolved URL, the timeout and
//! the key prefix are unchanged; the error and fallback counters live for the process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::breaker::{Breaker, Permit};
use super::clock::Clock;
use super::refusal::{Cause, Refusal};
use crate::config::RedisConfig;
use crate::routes::RateClass;
use crate::secret::Secret;
use crate::shared_budget::{Decision, FailureMode, SharedBudgets};

pub use super::breaker::BREAKER_OPEN;

/// How long the background connection at start may take (TLS, a remote Redis).
const WARM_UP_BOUND: Duration = Duration::from_secs(5);

/// What happened with Redis, for the process's life (kept across reloads): for metrics.
#[derive(Debug, Default)]
pub struct RedisStats {
    errors: AtomicU64,
    fallbacks: AtomicU64,
}

impl RedisStats {
    /// Redis calls (decisions and pauses) that failed or timed out.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Team-budget decisions Redis could not make (call failed, breaker open, URL unusable):
    /// made on the local budget (`open`) or refused with 503 (`closed`).
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }
}

/// What the shared budget says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Allowed,
    /// Refused by Redis (`Exhausted`, `Upstream` for a pause) or, Redis unavailable under
    /// `closed`, `StoreUnavailable`.
    Refused(Refusal),
    /// Redis unavailable under `open`: the local budget decides.
    Local,
}

/// The shared side of the team budgets of one `RateLimits`.
pub(super) struct Shared<C: Clock> {
    store: Arc<Store<C>>,
    failure_mode: FailureMode,
    stats: Arc<RedisStats>,
}

/// One Redis client and what it was built from (so a reload can tell whether to keep it).
struct Store<C: Clock> {
    /// `None`: the URL could not be resolved or used; every decision is a fallback.
    client: Option<SharedBudgets>,
    url: Option<Secret>,
    timeout: Duration,
    prefix: String,
    breaker: Breaker<C::Instant>,
}

impl<C: Clock> Shared<C> {
    /// The shared budgets of `config`, keeping `previous`'s client if it was built from the
    /// same URL, timeout and prefix. The URL is resolved here (it may come from an env var or
    /// a file); it is never logged, as it may hold a password.
    pub fn build(config: &RedisConfig, previous: Option<&Shared<C>>, stats: Arc<RedisStats>) -> Shared<C> {
        let url = match config.url.resolve() {
            Ok(url) => Some(url),
            Err(e) => {
                tracing::error!(
                    error = %crate::telemetry::error_chain(&e),
                    failure_mode = failure_mode_str(config.failure_mode),
                    "the Redis URL ([ratelimit.redis] url) cannot be read; team budgets act as if Redis were down"
                );
                None
            }
        };
        let kept = previous.map(|p| &p.store).filter(|old| {
            old.url.is_some() && old.url == url && old.timeout == config.timeout && old.prefix == config.key_prefix
        });
        let store = match kept {
            Some(store) => store.clone(),
            None => Arc::new(Store {
                client: url.as_ref().and_then(|url| connect(url, config)),
                url,
                timeout: config.timeout,
                prefix: config.key_prefix.clone(),
                breaker: Breaker::default(),
            }),
        };
        Shared {
            store,
            failure_mode: config.failure_mode,
            stats,
        }
    }

    /// One decision for `team`'s `class` budget, never slower than the Redis timeout.
    pub async fn decide(&self, clock: &C, team: &str, class: RateClass, per_second: u32, burst: u32) -> Verdict {
        let Some(client) = &self.store.client else {
            return self.fallback(BREAKER_OPEN);
        };
        let permit = match self.store.breaker.admit(clock.now()) {
            Ok(permit) => permit,
            Err(open_for) => return self.fallback(open_for),
        };
        match client.acquire(team, class, per_second, burst).await {
            Ok(decision) => {
                if permit.success() {
                    tracing::info!("Redis answers again; team budgets are shared across instances again");
                }
                match decision {
                    Decision::Allowed => Verdict::Allowed,
                    Decision::Refused { retry_after } => Verdict::Refused(Refusal {
                        wait: retry_after,
                        cause: Cause::Exhausted,
                    }),
                    Decision::Paused { retry_after } => Verdict::Refused(Refusal {
                        wait: retry_after,
                        cause: Cause::Upstream,
                    }),
                }
            }
            Err(e) => {
                self.failed(&permit, clock, &e);
                self.fallback(BREAKER_OPEN)
            }
        }
    }

    /// Holds `team`'s `class` budget in Redis for `length`, in the background.
    pub fn pause(&self, clock: &C, team: &str, class: RateClass, length: Duration) {
        let Some(client) = self.store.client.clone() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = Shared {
            store: self.store.clone(),
            failure_mode: self.failure_mode,
            stats: self.stats.clone(),
        };
        let (clock, team) = (clock.clone(), team.to_string());
        runtime.spawn(async move {
            let Ok(permit) = this.store.breaker.admit(clock.now()) else {
                return;
            };
            match client.pause(&team, class, length).await {
                Ok(()) => {
                    if permit.success() {
                        tracing::info!("Redis answers again; team budgets are shared across instances again");
                    }
                }
                Err(e) => this.failed(&permit, &clock, &e),
            }
        });
    }

    fn failed(&self, permit: &Permit<'_, C::Instant>, clock: &C, error: &crate::shared_budget::SharedBudgetError) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        let error = crate::telemetry::error_chain(error);
        let skip_ms = u64::try_from(BREAKER_OPEN.as_millis()).unwrap_or(u64::MAX);
        if permit.failure(clock.now()) {
            tracing::warn!(
                error,
                failure_mode = failure_mode_str(self.failure_mode),
                skip_ms,
                "Redis is unavailable; team budgets fall back to the failure mode, and Redis is probed again after skip_ms"
            );
        } else {
            tracing::debug!(error, "Redis is still unavailable");
        }
    }

    fn fallback(&self, retry_after: Duration) -> Verdict {
        self.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
        match self.failure_mode {
            FailureMode::Open => Verdict::Local,
            FailureMode::Closed => Verdict::Refused(Refusal {
                wait: retry_after,
                cause: Cause::StoreUnavailable,
            }),
        }
    }

    #[cfg(test)]
    pub fn same_client(&self, other: &Shared<C>) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

/// The client for `url`, or `None` (logged) when it cannot be made.
fn connect(url: &Secret, config: &RedisConfig) -> Option<SharedBudgets> {
    if tokio::runtime::Handle::try_current().is_err() {
        tracing::error!("the Redis client needs a Tokio runtime; team budgets act as if Redis were down");
        return None;
    }
    match SharedBudgets::new(url.expose(), config.timeout, &config.key_prefix) {
        Ok(client) => {
            let timeout_ms = u64::try_from(config.timeout.as_millis()).unwrap_or(u64::MAX);
            tracing::info!(
                failure_mode = failure_mode_str(config.failure_mode),
                timeout_ms,
                "team budgets are shared across instances through Redis"
            );
            // Connect now rather than within the first request's timeout. A failure here is
            // not counted: the first decision finds out and the breaker takes over.
            let warm = client.clone();
            tokio::spawn(async move {
                if let Err(e) = warm.warm_up(WARM_UP_BOUND).await {
                    tracing::debug!(error = %crate::telemetry::error_chain(&e), "Redis could not be reached at start");
                }
            });
            Some(client)
        }
        Err(e) => {
            // The redis crate's URL errors are fixed texts; the URL itself is never logged.
            tracing::error!(
                error = %crate::telemetry::error_chain(&e),
                "the Redis URL ([ratelimit.redis] url) is not usable; team budgets act as if Redis were down"
            );
            None
        }
    }
}

fn failure_mode_str(mode: FailureMode) -> &'static str {
    match mode {
        FailureMode::Open => "open",
        FailureMode::Closed => "closed",
    }
}
