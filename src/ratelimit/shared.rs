//! Team budgets shared by every instance through Redis (`[ratelimit.redis]`), as this instance
//! sees them: Redis decides (one round trip to shared_budget's GCRA script), and when it
//! cannot, `failure_mode` does: `open` lets the local budget decide, `closed` refuses (503).
//! Caller limits never come here; they stay per instance.
//!
//! Redis being down must not cost every request the timeout, so a **circuit breaker** sits in
//! front of it (`breaker`): after 3 failed calls in a row, Redis is skipped for 1 s
//! (decisions go straight to the failure mode), then the next request probes it (one probe
//! at a time; the others keep using the failure mode). A successful probe shares the budgets
//! again. A failed call always falls back for its own request. The connection is opened in the
//! background at start and re-established in the background by the client after a failure.
//!
//! Allo's signals seen here are pushed to Redis (`pause`, fire and forget, bounded by the
//! timeout) so that every instance holds the team, not only the one that got the 429; while
//! the breaker is open they are not pushed (each instance still learns from Allo itself).
//!
//! The client (and its breaker) is kept across reloads while the resolved URL, the timeout and
//! the key prefix are unchanged; the error and fallback counters live for the process.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::breaker::{Breaker, Permit};
use super::clock::LimiterClock;
use super::refusal::{Cause, Refusal};
use crate::config::{FailureMode, RedisConfig};
use crate::routes::RateClass;
use crate::secret::Secret;
use crate::shared_budget::{Decision, SharedBudgets};

pub use super::breaker::{BREAKER_OPEN, FAILURES_TO_OPEN};

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
pub(super) struct Shared<C: LimiterClock> {
    store: Arc<Store<C>>,
    failure_mode: FailureMode,
    stats: Arc<RedisStats>,
}

/// One Redis client and what it was built from (so a reload can tell whether to keep it).
struct Store<C: LimiterClock> {
    /// The client, or why there is none (never naming the URL); without a client every
    /// decision is a fallback.
    client: Result<SharedBudgets, String>,
    url: Option<Secret>,
    timeout: Duration,
    prefix: String,
    breaker: Breaker<C::Instant>,
    /// Whether `start` ran: the store announced itself and began connecting.
    started: AtomicBool,
}

impl<C: LimiterClock> Shared<C> {
    /// The shared budgets of `config`, keeping `previous`'s client if it was built from the
    /// same URL, timeout and prefix. The URL is resolved here (it may come from an env var or
    /// a file); it is never logged, as it may hold a password. No I/O and no log here: see
    /// `start`.
    pub(super) fn build(config: &RedisConfig, previous: Option<&Shared<C>>, stats: Arc<RedisStats>) -> Shared<C> {
        let url = config
            .url
            .resolve()
            .map_err(|e| format!("cannot be read: {}", crate::error_chain::error_chain(&e)));
        let kept = previous.map(|p| &p.store).filter(|old| {
            old.url.is_some()
                && old.url.as_ref() == url.as_ref().ok()
                && old.timeout == config.timeout
                && old.prefix == config.key_prefix
        });
        let store = match kept {
            Some(store) => store.clone(),
            None => Arc::new(Store {
                client: url.as_ref().map_err(Clone::clone).and_then(|url| client(url, config)),
                url: url.ok(),
                timeout: config.timeout,
                prefix: config.key_prefix.clone(),
                breaker: Breaker::default(),
                started: AtomicBool::new(false),
            }),
        };
        Shared {
            store,
            failure_mode: config.failure_mode,
            stats,
        }
    }

    /// Says whether budgets are shared (or why not), once per client, and connects in the
    /// background, so that the first decision does not pay the connection (a TLS handshake to
    /// a remote Redis can outlast the decision timeout). A failure here is not counted: the
    /// first decision finds out and the breaker takes over.
    pub(super) fn start(&self) {
        // Called by every decision: a read first, so the hot path never writes the flag.
        if self.store.started.load(Ordering::Acquire) || self.store.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let failure_mode = failure_mode_str(self.failure_mode);
        let client = match &self.store.client {
            Ok(client) => client.clone(),
            Err(problem) => {
                tracing::error!(
                    problem = problem.as_str(),
                    failure_mode,
                    "the Redis URL ([ratelimit.redis] url) is not usable; team budgets act as if Redis were down"
                );
                return;
            }
        };
        let timeout_ms = u64::try_from(self.store.timeout.as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            failure_mode,
            timeout_ms,
            "team budgets are shared across instances through Redis"
        );
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            match client.warm_up(WARM_UP_BOUND).await {
                Ok(()) => tracing::info!("connected to Redis"),
                Err(e) => {
                    tracing::debug!(error = %crate::error_chain::error_chain(&e), "Redis could not be reached yet");
                }
            }
        });
    }

    /// One decision for `team`'s `class` budget, never slower than the Redis timeout.
    pub(super) async fn decide(&self, clock: &C, team: &str, class: RateClass, per_second: u32, burst: u32) -> Verdict {
        self.start();
        let Ok(client) = &self.store.client else {
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
    pub(super) fn pause(&self, clock: &C, team: &str, class: RateClass, length: Duration) {
        self.start();
        let Ok(client) = self.store.client.clone() else {
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
        let error = crate::error_chain::error_chain(error);
        let skip_ms = u64::try_from(BREAKER_OPEN.as_millis()).unwrap_or(u64::MAX);
        if permit.failure(clock.now()) {
            tracing::warn!(
                error,
                failure_mode = failure_mode_str(self.failure_mode),
                skip_ms,
                "Redis is unavailable; team budgets fall back to the failure mode, and Redis is probed again after skip_ms"
            );
        } else {
            tracing::debug!(error, "a Redis call failed");
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
    pub(super) fn same_client(&self, other: &Shared<C>) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

/// The client for `url`, or why it cannot be made. Connects lazily.
fn client(url: &Secret, config: &RedisConfig) -> Result<SharedBudgets, String> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err("the Redis client needs a Tokio runtime".to_string());
    }
    // The redis crate's URL errors are fixed texts: the URL itself is never in them.
    SharedBudgets::new(url.expose(), config.timeout, &config.key_prefix)
        .map_err(|e| crate::error_chain::error_chain(&e))
}

fn failure_mode_str(mode: FailureMode) -> &'static str {
    match mode {
        FailureMode::Open => "open",
        FailureMode::Closed => "closed",
    }
}
