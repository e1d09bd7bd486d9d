//! One governor limiter and the quota it was built from, so a reload can tell whether the
//! quota changed (and the limiter's state must be dropped) or not (and it is kept).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::clock::LimiterClock;

/// Alone on its cache lines: every worker writes the limiter's state on each request it
/// admits, and a map entry's key or a neighbour's fields on the same line would be read from
/// the other core each time.
#[repr(align(128))]
pub(super) struct Limit<C: LimiterClock> {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
}

impl<C: LimiterClock> Limit<C> {
    pub(super) fn new(per_second: NonZeroU32, burst: NonZeroU32, clock: &C) -> Limit<C> {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Limit {
            per_second,
            burst,
            limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
        }
    }

    pub(super) fn same_quota(&self, per_second: NonZeroU32, burst: NonZeroU32) -> bool {
        self.per_second == per_second && self.burst == burst
    }

    /// Spends one slot, or tells the earliest instant one will be free. Nothing is spent on
    /// a refusal.
    pub(super) fn take(&self) -> Result<(), C::Instant> {
        self.limiter.check().map_err(|not_until| not_until.earliest_possible())
    }

    /// The time one slot takes to come back.
    pub(super) fn interval(&self) -> Duration {
        Duration::from_secs(1) / self.per_second.get()
    }
}
