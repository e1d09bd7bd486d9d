//! The circuit breaker in front of Redis: after a failed call Redis is skipped for
//! `BREAKER_OPEN`, so a dead Redis costs one timeout per second rather than one per request;
//! then one request probes it (the others keep skipping it) and an answer closes the breaker.
//! Time is the rate limiter's clock, so tests move it by hand.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::clock::Reference;
use governor::nanos::Nanos;

/// How long Redis is left alone after a failed call before it is probed again.
pub const BREAKER_OPEN: Duration = Duration::from_secs(1);

/// Closed: Redis is used. Open: Redis is skipped until `until`, then probed by one request.
pub(super) struct Breaker<I> {
    state: Mutex<BreakerState<I>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState<I> {
    Closed,
    Open { until: I },
    /// One request is asking Redis; the breaker had been open until `since`.
    Probing { since: I },
}

impl<I> Default for Breaker<I> {
    fn default() -> Self {
        Breaker {
            state: Mutex::new(BreakerState::Closed),
        }
    }
}

impl<I: Reference> Breaker<I> {
    fn state(&self) -> MutexGuard<'_, BreakerState<I>> {
        // A plain value always left consistent: a poisoned lock is still valid.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leave to call Redis at `now`, or how long it stays skipped.
    pub fn admit(&self, now: I) -> Result<Permit<'_, I>, Duration> {
        let mut state = self.state();
        match *state {
            BreakerState::Closed => Ok(Permit {
                breaker: self,
                probe: None,
            }),
            BreakerState::Open { until } if now >= until => {
                *state = BreakerState::Probing { since: until };
                Ok(Permit {
                    breaker: self,
                    probe: Some(until),
                })
            }
            BreakerState::Open { until } => Err(until.duration_since(now).into()),
            // Another request is probing; it answers within the timeout.
            BreakerState::Probing { .. } => Err(Duration::from_millis(1)),
        }
    }
}

/// Leave to make one Redis call; a probe given up without an answer (its request went away)
/// lets the next request probe.
pub(super) struct Permit<'a, I: Reference> {
    breaker: &'a Breaker<I>,
    /// For a probe, when the breaker had opened until.
    probe: Option<I>,
}

impl<I: Reference> Permit<'_, I> {
    /// Redis answered. Returns whether this closed the breaker (Redis is back).
    pub fn success(&self) -> bool {
        let mut state = self.breaker.state();
        let recovered = self.probe.is_some() && matches!(*state, BreakerState::Probing { .. });
        if recovered {
            *state = BreakerState::Closed;
        }
        recovered
    }

    /// Redis failed: skipped until `BREAKER_OPEN` from `now`. Returns whether it was in use
    /// until now (the first failure, worth a warning).
    pub fn failure(&self, now: I) -> bool {
        let mut state = self.breaker.state();
        let was_closed = *state == BreakerState::Closed;
        *state = BreakerState::Open {
            until: now + Nanos::from(BREAKER_OPEN),
        };
        was_closed
    }
}

impl<I: Reference> Drop for Permit<'_, I> {
    fn drop(&mut self) {
        let Some(since) = self.probe else { return };
        let mut state = self.breaker.state();
        if *state == (BreakerState::Probing { since }) {
            *state = BreakerState::Open { until: since };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::ManualClock;
    use governor::clock::Clock as _;

    #[test]
    fn the_breaker_skips_then_lets_one_probe() {
        let clock = ManualClock::default();
        let breaker = Breaker::default();
        let first = breaker.admit(clock.now()).unwrap();
        let second = breaker.admit(clock.now()).unwrap();
        assert!(first.failure(clock.now()), "the first failure is news");
        assert!(!second.failure(clock.now()), "a second failure is not");
        assert!(!first.success(), "a late success of an ordinary call does not close it");
        drop((first, second));
        assert_eq!(breaker.admit(clock.now()).err(), Some(BREAKER_OPEN));
        clock.advance(Duration::from_millis(400));
        assert_eq!(breaker.admit(clock.now()).err(), Some(Duration::from_millis(600)));
        clock.advance(Duration::from_millis(600));
        let probe = breaker.admit(clock.now()).unwrap();
        assert!(breaker.admit(clock.now()).is_err(), "one probe at a time");
        assert!(probe.success());
        drop(probe);
        assert!(breaker.admit(clock.now()).unwrap().probe.is_none());
    }

    #[test]
    fn a_failed_or_abandoned_probe_reopens_the_breaker() {
        let clock = ManualClock::default();
        let breaker = Breaker::default();
        breaker.admit(clock.now()).unwrap().failure(clock.now());
        clock.advance(BREAKER_OPEN);
        let probe = breaker.admit(clock.now()).unwrap();
        assert!(!probe.failure(clock.now()));
        drop(probe);
        assert_eq!(breaker.admit(clock.now()).err(), Some(BREAKER_OPEN));
        clock.advance(BREAKER_OPEN);
        // A probe dropped without an answer (its request cancelled): the next one probes.
        drop(breaker.admit(clock.now()).unwrap());
        let next = breaker.admit(clock.now()).unwrap();
        assert!(next.probe.is_some());
    }
}
