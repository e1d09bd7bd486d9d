//! Rate limits, keyed only by authenticated identity: one limiter per configured caller that
//! has a `rate`, and one read and one write budget per configured team mirroring Allo's
//! per-key limits. Limiters exist only for configured identities, so memory never grows with
//! traffic. Every budget lives in this gateway instance: sidecars sharing one Allo key each
//! spend their own budgets, and Allo's signals (below) are what keeps them honest together.
//! This step knows nothing about HTTP beyond reading Allo's headers; the pipeline asks and
//! reports.
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
//!   attribute.
//! - **Reloads**: `carry_over` keeps the state of every identity whose quota did not change
//!   (and the holds of every team still configured).

mod clock;
mod limit;
mod signals;
mod team;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::nanos::Nanos;

pub use clock::{Clock, ManualClock, RealClock};
pub use signals::MAX_HOLD;

use crate::config::{Config, OnLimit};
use crate::routes::RateClass;
use limit::Limit;
use team::TeamBudget;

/// Which budget refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Caller,
    Team,
}

impl Budget {
    pub fn as_str(self) -> &'static str {
        match self {
            Budget::Caller => "caller",
            Budget::Team => "team",
        }
    }
}

/// Why the budget has no room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The budget's own limiter has no slot before `retry_after`.
    Exhausted,
    /// Allo said the team's key is out of budget; the gateway holds the team until then.
    Upstream,
    /// Wait mode: `max_waiters` requests already wait for this budget.
    QueueFull,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    pub budget: Budget,
    /// The team budget's class; `None` for a caller limit, which counts every request.
    pub class: Option<RateClass>,
    /// The budget's sustained rate per second.
    pub limit: u32,
    /// How long until the budget would admit this request.
    pub retry_after: Duration,
    pub cause: Cause,
}

impl RateLimited {
    /// Whole seconds, at least 1, rounded up (`Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        let millis = u64::try_from(self.retry_after.as_millis()).unwrap_or(u64::MAX);
        millis.div_ceil(1000).max(1)
    }
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (limit, secs) = (self.limit, self.retry_after_secs());
        let class = self
            .class
            .map_or("", |c| if c == RateClass::Read { "read " } else { "write " });
        match (self.budget, self.cause) {
            (Budget::Caller, _) => write!(f, "this caller's rate limit ({limit} requests per second) is exhausted"),
            (Budget::Team, Cause::Exhausted) => {
                write!(
                    f,
                    "the team's {class}budget ({limit} requests per second, shared by its callers) is exhausted"
                )
            }
            (Budget::Team, Cause::Upstream) => write!(f, "Allo reported the team's {class}budget exhausted"),
            (Budget::Team, Cause::QueueFull) => {
                write!(f, "the team's {class}budget is exhausted and its wait queue is full")
            }
        }?;
        write!(f, "; retry in {secs} s")
    }
}

impl std::error::Error for RateLimited {}

/// A team's two budgets.
struct TeamBudgets<C: Clock> {
    read: Arc<TeamBudget<C>>,
    write: Arc<TeamBudget<C>>,
}

impl<C: Clock> TeamBudgets<C> {
    fn get(&self, class: RateClass) -> &Arc<TeamBudget<C>> {
        match class {
            RateClass::Read => &self.read,
            RateClass::Write => &self.write,
        }
    }
}

pub struct RateLimits<C: Clock = RealClock> {
    clock: C,
    on_limit: OnLimit,
    max_wait: Duration,
    max_waiters: usize,
    callers: HashMap<String, Arc<Limit<C>>>,
    teams: HashMap<String, TeamBudgets<C>>,
}

impl RateLimits<RealClock> {
    pub fn new(config: &Config) -> RateLimits<RealClock> {
        RateLimits::with_clock(config, RealClock)
    }
}

impl<C: Clock> RateLimits<C> {
    /// Fresh limiters on `clock` (tests pass a `ManualClock`).
    pub fn with_clock(config: &Config, clock: C) -> RateLimits<C> {
        RateLimits::build(config, clock, None)
    }

    /// The limiters of a reloaded `config`: callers and team budgets whose quota did not
    /// change keep their state (spent slots, holds, queue), so a reload neither refills nor
    /// empties them; a team whose quota changed starts a fresh limiter but keeps Allo's hold.
    /// Identities no longer configured are dropped.
    pub fn carry_over(&self, config: &Config) -> RateLimits<C> {
        RateLimits::build(config, self.clock.clone(), Some(self))
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
        RateLimits {
            clock,
            on_limit: r.on_limit,
            max_wait: r.max_wait,
            max_waiters: r.max_waiters,
            callers,
            teams,
        }
    }

    /// The caller's own limit, checked before its body is read. Never waits.
    pub fn check_caller(&self, caller: &str) -> Result<(), RateLimited> {
        let Some(limit) = self.callers.get(caller) else {
            return Ok(());
        };
        let now = self.clock.now();
        limit.take().map_err(|free_at| RateLimited {
            budget: Budget::Caller,
            class: None,
            limit: limit.per_second.get(),
            retry_after: governor::clock::Reference::duration_since(&free_at, now).into(),
            cause: Cause::Exhausted,
        })
    }

    /// The team's upstream budget for this class, spent only by requests about to be forwarded.
    /// In wait mode this may wait up to `max_wait`.
    pub async fn acquire_team(&self, team: &str, class: RateClass) -> Result<(), RateLimited> {
        let Some(budget) = self.teams.get(team).map(|t| t.get(class)) else {
            return Ok(());
        };
        let taken = match self.on_limit {
            OnLimit::Reject => budget.try_take(self.clock.now()),
            OnLimit::Wait => budget.wait(&self.clock, self.max_wait, self.max_waiters).await,
        };
        taken.map_err(|refusal| budget.refused(refusal))
    }

    /// Allo's own signals for `team`, class unknown: a 429 holds both of the team's budgets;
    /// `X-RateLimit-Remaining: 0` is ignored (see the module doc). Prefer
    /// `observe_upstream_class`.
    pub fn observe_upstream(&self, team: &str, status: http::StatusCode, headers: &http::HeaderMap) {
        self.observe(team, None, status, headers);
    }

    /// Allo's own signals (429, `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset`) on the
    /// answer to a request of `class` from `team`: holds that budget until Allo's reset.
    pub fn observe_upstream_class(
        &self,
        team: &str,
        class: RateClass,
        status: http::StatusCode,
        headers: &http::HeaderMap,
    ) {
        self.observe(team, Some(class), status, headers);
    }

    fn observe(&self, team: &str, class: Option<RateClass>, status: http::StatusCode, headers: &http::HeaderMap) {
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
}
