//! What a refused request is told: which budget refused it, why, and when to come back. The
//! status code and headers are error.rs's business; this is the decision and its message.

use std::fmt;
use std::time::Duration;

use crate::routes::RateClass;

/// Which budget refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Caller,
    Team,
    /// The team's requests in flight (`max_in_flight_per_team`), not its rate.
    TeamConcurrency,
}

impl Budget {
    pub fn as_str(self) -> &'static str {
        match self {
            Budget::Caller => "caller",
            Budget::Team => "team",
            Budget::TeamConcurrency => "team_concurrency",
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
    /// The team budget is shared through Redis, Redis cannot be reached and
    /// `failure_mode = "closed"`: the budget cannot be checked, so nothing is sent. Not a
    /// 429 (the budget may well have room): a 503.
    StoreUnavailable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    pub budget: Budget,
    /// The team budget's class; `None` for a caller limit, which counts every request.
    pub class: Option<RateClass>,
    /// The budget's sustained rate per second.
    pub limit: u32,
    /// How long until the budget would admit this request (`StoreUnavailable`: until the
    /// gateway asks Redis again).
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
            (Budget::Team, Cause::StoreUnavailable) => write!(
                f,
                "the team's {class}budget cannot be checked: the shared rate-limit store is unavailable"
            ),
            (Budget::TeamConcurrency, _) => write!(f, "the team has {limit} requests in flight"),
        }?;
        write!(f, "; retry in {secs} s")
    }
}

impl std::error::Error for RateLimited {}

/// Why and for how long a team request cannot go now (before it becomes a `RateLimited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refusal {
    pub wait: Duration,
    pub cause: Cause,
}
