//! The circuit breaker in front of Redis: after `FAILURES_TO_OPEN` failed calls in a row
//! Redis is skipped for `BREAKER_OPEN`, so a dead Redis costs one timeout per second rather
//! than one per request; then one request probes it (the others keep skipping it), and an
//! answer closes the breaker while a failure opens it again. A lone slow answer fails only its
//! own request: under `failure_mode = "closed"` one hiccup must not refuse a second of
//! traffic. Time is the rate limiter's clock, so tests move it by hand.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::clock::Reference;
use governor::nanos::Nanos;

/// How long Redis is left alone, once the breaker opens, before it is probed again.
pub const BREAKER_OPEN: Duration = Duration::from_secs(1);
/// Failed calls in a row (no answer between them) that open the breaker.
pub const FAILURES_TO_OPEN: u32 = 3;

/// Closed: Redis is used. Open: Redis is skipped until `until`, then probed by one request.
pub(super) struct Breaker<I> {
    state: Mutex<BreakerState<I>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState<I> {
    /// Redis is used; `failures` calls in a row have failed.
    Closed {
        failures: u32,
    },
    Open {
        until: I,
    },
    /// One request is asking Redis; the breaker had been open until `since`.
    Probing {
        since: I,
    },
}

impl<I> Default for Breaker<I> {
    fn default() -> Self {
        Breaker {
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }
}

impl<I: Reference> Breaker<I> {
    fn state(&self) -> MutexGuard<'_, BreakerState<I>> {
        // A plain value always left consistent: a poisoned lock is still valid.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leave to call Redis at `now`, or how long it stays skipped.
    pub(super) fn admit(&self, now: I) -> Result<Permit<'_, I>, Duration> {
        let mut state = self.state();
        match *state {
            BreakerState::Closed { .. } => Ok(Permit {
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
    /// Redis answered. Returns whether this closed an open breaker (Redis is back).
    pub(super) fn success(&self) -> bool {
        let mut state = self.breaker.state();
        match *state {
            BreakerState::Probing { .. } if self.probe.is_some() => {
                *state = BreakerState::Closed { failures: 0 };
                true
            }
            BreakerState::Closed { .. } => {
                *state = BreakerState::Closed { failures: 0 };
                false
            }
            // A call that started before the breaker opened says little about Redis now.
            BreakerState::Open { .. } | BreakerState::Probing { .. } => false,
        }
    }

    /// Redis failed at `now`. Returns whether this opened the breaker from closed (Redis was
    /// in use until now: worth a warning).
    pub(super) fn failure(&self, now: I) -> bool {
        let mut state = self.breaker.state();
        let open = BreakerState::Open {
            until: now + Nanos::from(BREAKER_OPEN),
        };
        match *state {
            BreakerState::Closed { failures } if failures + 1 < FAILURES_TO_OPEN => {
                *state = BreakerState::Closed { failures: failures + 1 };
                false
            }
            BreakerState::Closed { .. } => {
                *state = open;
                true
            }
            BreakerState::Probing { .. } if self.probe.is_some() => {
                *state = open;
                false
            }
            BreakerState::Open { .. } | BreakerState::Probing { .. } => false,
        }
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
    use crate::ratelimit::ManualLimiterClock;
    use governor::clock::Clock as _;

    /// Fails `FAILURES_TO_OPEN` calls in a row (the last one opens the breaker).
    fn open(breaker: &Breaker<Nanos>, clock: &ManualLimiterClock) {
        for n in 1..=FAILURES_TO_OPEN {
            let opened = breaker.admit(clock.now()).unwrap().failure(clock.now());
            assert_eq!(opened, n == FAILURES_TO_OPEN);
        }
    }

    #[test]
    fn failures_in_a_row_open_it_and_an_answer_between_them_resets_the_count() {
        let clock = ManualLimiterClock::default();
        let breaker = Breaker::default();
        for _ in 1..FAILURES_TO_OPEN {
            breaker.admit(clock.now()).unwrap().failure(clock.now());
        }
        assert!(
            !breaker.admit(clock.now()).unwrap().success(),
            "nothing to recover from"
        );
        for _ in 1..FAILURES_TO_OPEN {
            breaker.admit(clock.now()).unwrap().failure(clock.now());
        }
        assert!(breaker.admit(clock.now()).is_ok(), "still closed");
        // Calls in flight when it opens: their failures say nothing new, nor their answers.
        let late = breaker.admit(clock.now()).unwrap();
        assert!(breaker.admit(clock.now()).unwrap().failure(clock.now()));
        assert!(!late.failure(clock.now()));
        assert!(!late.success());
        assert_eq!(breaker.admit(clock.now()).err(), Some(BREAKER_OPEN));
    }

    #[test]
    fn an_open_breaker_skips_then_lets_one_probe() {
        let clock = ManualLimiterClock::default();
        let breaker = Breaker::default();
        open(&breaker, &clock);
        clock.advance(Duration::from_millis(400));
        assert_eq!(breaker.admit(clock.now()).err(), Some(Duration::from_millis(600)));
        clock.advance(Duration::from_millis(600));
        let probe = breaker.admit(clock.now()).unwrap();
        assert!(breaker.admit(clock.now()).is_err(), "one probe at a time");
        assert!(probe.success(), "Redis is back");
        drop(probe);
        assert!(breaker.admit(clock.now()).unwrap().probe.is_none());
    }

    #[test]
    fn a_failed_or_abandoned_probe_reopens_the_breaker() {
        let clock = ManualLimiterClock::default();
        let breaker = Breaker::default();
        open(&breaker, &clock);
        clock.advance(BREAKER_OPEN);
        // One failed probe is enough: it was open for a reason.
        let probe = breaker.admit(clock.now()).unwrap();
        assert!(!probe.failure(clock.now()), "already known to be down");
        drop(probe);
        assert_eq!(breaker.admit(clock.now()).err(), Some(BREAKER_OPEN));
        clock.advance(BREAKER_OPEN);
        // A probe dropped without an answer (its request went away): the next one probes.
        drop(breaker.admit(clock.now()).unwrap());
        assert!(breaker.admit(clock.now()).unwrap().probe.is_some());
    }
}
