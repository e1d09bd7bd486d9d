//! Rate limits, keyed only by authenticated identity: one limiter per configured caller that
//! has a `rate`, and one read and one write budget per configured team mirroring Allo's
//! per-key limits. Limiters exist only for configured identities, so memory never grows with
//! traffic. Without `[ratelimit.redis]` every budget lives in this gateway instance: sidecars
//! sharing one Allo key each spend their own budgets, and Allo's signals (below) are what
//! keeps them honest together. With it, team budgets are shared by every instance using that
//! Redis (`shared`); caller limits stay per instance. This step knows nothing about HTTP
//! beyond reading Allo's headers; the pipeline asks and reports.
//!
//! - **Caller limits** (`rate = { per_second, burst }`) are checked before the body is read
//!   and are reject-only, in both modes: the caller over its own limit is the runaway, and
//!   parking its requests would only let it tie up gateway connections.
//! - **Team budgets** (`read_per_second`, `write_per_second`; the burst equals the rate, as
//!   Allo accepts a second's worth at once) are spent last, only by requests about to be
//!   forwarded. With `on_limit = "wait"` a request queues for its team budget in arrival
//!   order (`team`), at most `max_waiters` per team budget and at most `max_wait` long.
//! - **Allo's signals** hold a team budget: nothing of that team and class is sent until the
//!   hold ends; it is refused (or, in wait mode, waits if the hold ends within `max_wait`).
//!   A 429 holds for its `Retry-After` (else until `X-RateLimit-Reset`, else one second);
//!   `X-RateLimit-Remaining: 0` holds until `X-RateLimit-Reset`, which also closes the gap
//!   between a smooth limiter and Allo's fixed one-second windows. Holds never exceed
//!   `MAX_HOLD` (60 s). A 429 that still reports budget left (an SMS quota) holds nothing.
//!   Which classes: `observe_upstream_class` holds the class of the request that got the
//!   answer (Allo counts reads and writes apart, and holding reads because writes ran out
//!   would let one team's batch writes starve its reads). `observe_upstream`, which does not
//!   know the class, holds both classes on a 429 and ignores `Remaining: 0`, which it cannot
//!   attribute. With Redis, the hold is also pushed there so that every instance holds.
//! - **Reloads**: `carry_over` keeps the state of every identity whose quota did not change
//!   (and the holds of every team still configured), and the Redis client while its URL,
//!   timeout and key prefix are unchanged.

mod breaker;
mod clock;
mod gcra;
mod lease;
mod limit;
mod refusal;
mod shared;
mod signals;
mod team;
#[cfg(test)]
mod tests;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::nanos::Nanos;

pub use clock::{LimiterClock, ManualLimiterClock, RealClock};
pub use refusal::{Budget, Cause, RateLimited};
pub use shared::{RedisStats, BREAKER_OPEN, FAILURES_TO_OPEN};
pub use signals::MAX_HOLD;

use crate::answer::Fields;
use crate::config::{Config, OnLimit};
use crate::ids::IdMap;
use crate::routes::RateClass;
use limit::Limit;
use shared::Shared;
use team::{SharedTeam, TeamBudget};

/// A team's two budgets.
struct TeamBudgets<C: LimiterClock> {
    read: Arc<TeamBudget<C>>,
    write: Arc<TeamBudget<C>>,
}

impl<C: LimiterClock> TeamBudgets<C> {
    fn get(&self, class: RateClass) -> &Arc<TeamBudget<C>> {
        match class {
            RateClass::Read => &self.read,
            RateClass::Write => &self.write,
        }
    }
}

pub struct RateLimits<C: LimiterClock = RealClock> {
    clock: C,
    on_limit: OnLimit,
    max_wait: Duration,
    max_waiters: usize,
    callers: IdMap<Arc<Limit<C>>>,
    teams: IdMap<TeamBudgets<C>>,
    /// Team budgets shared through Redis (`[ratelimit.redis]`), if configured.
    shared: Option<Shared<C>>,
    /// Kept for the process's life, across reloads, Redis configured or not.
    redis_stats: Arc<RedisStats>,
}

impl RateLimits<RealClock> {
    pub fn new(config: &Config) -> RateLimits<RealClock> {
        RateLimits::with_clock(config, RealClock)
    }
}

impl<C: LimiterClock> RateLimits<C> {
    /// Fresh limiters on `clock` (tests pass a `ManualLimiterClock`).
    pub fn with_clock(config: &Config, clock: C) -> RateLimits<C> {
        RateLimits::build(config, clock, None)
    }

    /// The limiters of a reloaded `config`: callers and team budgets whose quota did not
    /// change keep their state (spent slots, holds, queue), so a reload neither refills nor
    /// empties them; a team whose quota changed starts a fresh limiter but keeps Allo's hold.
    /// Identities no longer configured are dropped.
    pub fn carry_over(&self, config: &Config) -> RateLimits<C> {
        let limits = RateLimits::build(config, self.clock.clone(), Some(self));
        limits.connect();
        limits
    }

    /// With `[ratelimit.redis]`: logs whether team budgets are shared (or why not) and starts
    /// connecting to Redis in the background, once per client. Call it when these limits are
    /// about to serve (at start; `carry_over` does it for reloads); building them does no I/O,
    /// so `check` and a reload's throwaway build never connect. The first decision calls it
    /// too, should nobody have.
    pub fn connect(&self) {
        if let Some(shared) = &self.shared {
            shared.start();
        }
    }

    fn build(config: &Config, clock: C, previous: Option<&RateLimits<C>>) -> RateLimits<C> {
        let callers = config
            .callers
            .iter()
            .filter_map(|c| {
                let rate = c.rate?;
                let kept = previous
                    .and_then(|p| p.callers.get(&c.id))
                    .filter(|l| l.same_quota(rate.per_second, rate.burst));
                let limit = kept
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Limit::new(rate.per_second, rate.burst, &clock)));
                Some((c.id.clone(), limit))
            })
            .collect();
        let teams = config
            .teams
            .iter()
            .map(|t| {
                let old = previous.and_then(|p| p.teams.get(&t.id));
                let budget = |class, per_second: NonZeroU32| {
                    let old = old.map(|o| o.get(class));
                    match old {
                        Some(old) if old.limit.same_quota(per_second, per_second) => old.clone(),
                        _ => Arc::new(TeamBudget::new(
                            class,
                            Limit::new(per_second, per_second, &clock),
                            old.and_then(|o| o.held_until()),
                        )),
                    }
                };
                let budgets = TeamBudgets {
                    read: budget(RateClass::Read, t.read_per_second),
                    write: budget(RateClass::Write, t.write_per_second),
                };
                (t.id.clone(), budgets)
            })
            .collect();
        let r = &config.ratelimit;
        let redis_stats = previous.map_or_else(Arc::default, |p| p.redis_stats.clone());
        let shared = r.redis.as_ref().map(|redis| {
            let previous = previous.and_then(|p| p.shared.as_ref());
            Shared::build(redis, previous, redis_stats.clone())
        });
        RateLimits {
            clock,
            on_limit: r.on_limit,
            max_wait: r.max_wait,
            max_waiters: r.max_waiters,
            callers,
            teams,
            shared,
            redis_stats,
        }
    }

    /// The caller's own limit, checked before its body is read. Never waits.
    pub fn check_caller(&self, caller: &str) -> Result<(), RateLimited> {
        let Some(limit) = self.callers.get(caller) else {
            return Ok(());
        };
        limit.take().map_err(|free_at| RateLimited {
            budget: Budget::Caller,
            class: None,
            limit: limit.per_second.get(),
            retry_after: governor::clock::Reference::duration_since(&free_at, self.clock.now()).into(),
            cause: Cause::Exhausted,
        })
    }

    /// The team's upstream budget for this class, spent only by requests about to be forwarded.
    /// In wait mode this may wait up to `max_wait`. With Redis, one round trip decides (never
    /// longer than its timeout); Redis unavailable, `failure_mode` decides.
    pub async fn acquire_team(&self, team: &str, class: RateClass) -> Result<(), RateLimited> {
        let Some(budget) = self.teams.get(team).map(|t| t.get(class)) else {
            return Ok(());
        };
        // The usual case needs no waiting: decided here, without the waiting path's state
        // (a thousand bytes, boxed below) in every request's future.
        if self.shared.is_none() && (self.on_limit == OnLimit::Reject || budget.waiting() == 0) {
            match budget.take_now(&self.clock) {
                Ok(()) => return Ok(()),
                Err(refusal) if self.on_limit == OnLimit::Reject => return Err(budget.refused(refusal)),
                Err(_) => {}
            }
        }
        Box::pin(self.acquire_team_waiting(team, budget)).await
    }

    async fn acquire_team_waiting(&self, team: &str, budget: &TeamBudget<C>) -> Result<(), RateLimited> {
        let shared = self.shared.as_ref().map(|shared| SharedTeam { shared, team });
        let taken = match self.on_limit {
            OnLimit::Reject => budget.take(&self.clock, shared).await,
            OnLimit::Wait => budget.wait(&self.clock, self.max_wait, self.max_waiters, shared).await,
        };
        taken.map_err(|refusal| budget.refused(refusal))
    }

    /// Allo's own signals for `team`, class unknown: a 429 holds both of the team's budgets;
    /// `X-RateLimit-Remaining: 0` is ignored (see the module doc). Prefer
    /// `observe_upstream_class`.
    pub fn observe_upstream(&self, team: &str, status: http::StatusCode, headers: &impl Fields) {
        self.observe(team, None, status, headers);
    }

    /// Allo's own signals (429, `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset`) on the
    /// answer to a request of `class` from `team`: holds that budget until Allo's reset.
    pub fn observe_upstream_class(
        &self,
        team: &str,
        class: RateClass,
        status: http::StatusCode,
        headers: &impl Fields,
    ) {
        self.observe(team, Some(class), status, headers);
    }

    fn observe(&self, team: &str, class: Option<RateClass>, status: http::StatusCode, headers: &impl Fields) {
        // Most answers carry neither signal: nothing to read, and no clock either.
        if !signals::may_signal(status, headers) {
            return;
        }
        let Some(budgets) = self.teams.get(team) else { return };
        let signal = signals::read(status, headers, self.clock.unix_now());
        let (hold, held): (Option<Duration>, &[&Arc<TeamBudget<C>>]) = match class {
            Some(class) => (signal.throttled.max(signal.spent), &[budgets.get(class)]),
            None => (signal.throttled, &[&budgets.read, &budgets.write]),
        };
        let Some(hold) = hold else { return };
        let until = self.clock.now() + Nanos::from(hold);
        for budget in held {
            budget.hold(until);
            if let Some(shared) = &self.shared {
                shared.pause(&self.clock, team, budget.class, hold);
            }
        }
        let class = class.map_or("read+write", RateClass::as_str);
        let hold_ms = u64::try_from(hold.as_millis()).unwrap_or(u64::MAX);
        if signal.capped && hold == MAX_HOLD {
            tracing::warn!(
                team,
                class,
                hold_ms,
                "Allo asked for a longer hold than the gateway allows; holding for the maximum"
            );
        } else if signal.throttled.is_some() {
            tracing::info!(team, class, hold_ms, "Allo answered 429; holding the team's budget");
        } else {
            tracing::debug!(
                team,
                class,
                hold_ms,
                "Allo reported the team's budget spent; holding until its reset"
            );
        }
    }

    /// Requests waiting for a team budget (wait mode), e.g. for metrics.
    pub fn waiting(&self, team: &str, class: RateClass) -> usize {
        self.teams.get(team).map_or(0, |t| t.get(class).waiting())
    }

    /// Redis calls that failed or timed out, since the process started (see `RedisStats`).
    pub fn redis_errors(&self) -> u64 {
        self.redis_stats.errors()
    }

    /// Team-budget decisions Redis could not make, since the process started: made on the
    /// local budget (`failure_mode = "open"`) or refused with 503 (`"closed"`).
    pub fn redis_fallbacks(&self) -> u64 {
        self.redis_stats.fallbacks()
    }

    /// The Redis counters, shared with every later `carry_over` (for a metrics collector).
    pub fn redis_stats(&self) -> Arc<RedisStats> {
        self.redis_stats.clone()
    }
}
