//! One team budget (one team, one class): the limiter mirroring Allo's per-key limit, the hold
//! set from Allo's own signals, and the FIFO queue of wait mode.
//!
//! The queue is a fair `tokio::sync::Mutex` (served in arrival order): only its holder, the
//! head, asks the budget; everyone else waits for the turn. A newcomer takes a free slot
//! directly only when nobody is queued, so it never overtakes a waiter.
//!
//! With `[ratelimit.redis]` the budget asks Redis (`shared`) after its own hold and before its
//! own limiter, which then serves only when Redis cannot answer under `failure_mode = "open"`.
//! The queue is unchanged, so order is FIFO among this instance's requests; across instances
//! it is not: the head of each instance's queue sleeps until the slot Redis announced and asks
//! again, and whichever instance asks first takes it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::clock::Reference;
use governor::nanos::Nanos;

use super::clock::LimiterClock;
use super::limit::Limit;
use super::refusal::{Budget, Cause, RateLimited, Refusal};
use super::shared::{Shared, Verdict};
use crate::routes::RateClass;

pub(super) struct TeamBudget<C: LimiterClock> {
    pub class: RateClass,
    pub limit: Limit<C>,
    marks: Mutex<Marks<C::Instant>>,
    /// Whether `marks` may hold a hold: read by every request, written only when Allo's
    /// signal holds the budget and when the hold is found over, so the lock (a cache line
    /// every worker would write) is taken only then.
    held: AtomicBool,
    turn: tokio::sync::Mutex<()>,
    waiters: AtomicUsize,
}

/// What the budget knows about the future.
#[derive(Clone, Copy)]
struct Marks<I> {
    /// Allo said the key's budget is spent: nothing is sent before this instant.
    held_until: Option<I>,
    /// When the limiter (or Redis) said, at its last refusal, that a slot would be free (for
    /// estimates).
    next_free: Option<I>,
}

/// The shared budget this team budget asks first, and the team it belongs to.
pub(super) struct SharedTeam<'a, C: LimiterClock> {
    pub shared: &'a Shared<C>,
    pub team: &'a str,
}

impl<C: LimiterClock> Clone for SharedTeam<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C: LimiterClock> Copy for SharedTeam<'_, C> {}

impl<C: LimiterClock> TeamBudget<C> {
    pub(super) fn new(class: RateClass, limit: Limit<C>, held_until: Option<C::Instant>) -> TeamBudget<C> {
        TeamBudget {
            class,
            limit,
            marks: Mutex::new(Marks {
                held_until,
                next_free: None,
            }),
            held: AtomicBool::new(held_until.is_some()),
            turn: tokio::sync::Mutex::new(()),
            waiters: AtomicUsize::new(0),
        }
    }

    fn marks(&self) -> MutexGuard<'_, Marks<C::Instant>> {
        // The marks are plain values always left consistent, so a poisoned lock is still valid.
        self.marks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn held_until(&self) -> Option<C::Instant> {
        if !self.held.load(Ordering::Acquire) {
            return None;
        }
        self.marks().held_until
    }

    /// Holds the budget until `until`, or longer if it is already held longer.
    pub(super) fn hold(&self, until: C::Instant) {
        let mut marks = self.marks();
        marks.held_until = Some(marks.held_until.map_or(until, |held| held.max(until)));
        self.held.store(true, Ordering::Release);
    }

    /// Forgets a hold that is over at `now` (a later `hold` may have moved it on meanwhile).
    fn release_hold(&self, now: C::Instant) {
        let mut marks = self.marks();
        if marks.held_until.is_some_and(|until| until <= now) {
            marks.held_until = None;
            self.held.store(false, Ordering::Release);
        }
    }

    /// Requests queued in wait mode, the head included.
    pub(super) fn waiting(&self) -> usize {
        self.waiters.load(Ordering::Acquire)
    }

    /// Spends a slot, or says how long until one is free: Redis decides if the budget is
    /// shared (and answers), else the local limiter. Nothing is spent on a refusal.
    pub(super) async fn take(&self, clock: &C, shared: Option<SharedTeam<'_, C>>) -> Result<(), Refusal> {
        let Some(SharedTeam { shared, team }) = shared else {
            return self.try_take(clock);
        };
        if let Some(refusal) = self.hold_at(clock.now()) {
            return Err(refusal);
        }
        let (per_second, burst) = (self.limit.per_second.get(), self.limit.burst.get());
        match shared.decide(clock, team, self.class, per_second, burst).await {
            Verdict::Allowed => Ok(()),
            Verdict::Refused(refusal) => {
                let until = clock.now() + Nanos::from(refusal.wait);
                match refusal.cause {
                    // Another instance saw Allo's signal: hold here too, sparing round trips.
                    Cause::Upstream => self.hold(until),
                    Cause::Exhausted => self.marks().next_free = Some(until),
                    Cause::QueueFull | Cause::StoreUnavailable => {}
                }
                Err(refusal)
            }
            Verdict::Local => self.try_take(clock),
        }
    }

    /// Spends a slot of the local limiter now (the budget is not shared).
    pub(super) fn take_now(&self, clock: &C) -> Result<(), Refusal> {
        self.try_take(clock)
    }

    /// The hold in force at `now`, as a refusal.
    fn hold_at(&self, now: C::Instant) -> Option<Refusal> {
        let until = self.held_until().filter(|until| *until > now)?;
        Some(Refusal {
            wait: until.duration_since(now).into(),
            cause: Cause::Upstream,
        })
    }

    /// Spends a slot of the local limiter, or says how long until one is free. The clock is
    /// read only for a hold or a refusal (the limiter reads its own).
    fn try_take(&self, clock: &C) -> Result<(), Refusal> {
        if let Some(until) = self.held_until() {
            let now = clock.now();
            if until > now {
                return Err(Refusal {
                    wait: until.duration_since(now).into(),
                    cause: Cause::Upstream,
                });
            }
            self.release_hold(now);
        }
        self.limit.take().map_err(|free_at| {
            self.marks().next_free = Some(free_at);
            Refusal {
                wait: free_at.duration_since(clock.now()).into(),
                cause: Cause::Exhausted,
            }
        })
    }

    /// The wait of a request with `ahead` requests queued before it: the wait the budget last
    /// reported (limiter or hold), plus one slot per request ahead.
    fn outlook(&self, now: C::Instant, ahead: usize) -> Refusal {
        let marks = *self.marks();
        let until = |mark: Option<C::Instant>| mark.map_or(Duration::ZERO, |m| m.duration_since(now).into());
        let (held, free) = (until(marks.held_until), until(marks.next_free));
        let cause = if held > free { Cause::Upstream } else { Cause::Exhausted };
        let ahead = u32::try_from(ahead).unwrap_or(u32::MAX);
        Refusal {
            wait: held
                .max(free)
                .saturating_add(self.limit.interval().saturating_mul(ahead)),
            cause,
        }
    }

    /// Wait mode: queues for a slot in arrival order. Refuses at once when the queue is full
    /// or the expected wait is past `max_wait` (waiting only to be refused helps no one), and
    /// refuses when `max_wait` runs out in the queue. A store that cannot be asked (`closed`)
    /// refuses at once: there is nothing to wait for.
    pub(super) async fn wait(
        &self,
        clock: &C,
        max_wait: Duration,
        max_waiters: usize,
        shared: Option<SharedTeam<'_, C>>,
    ) -> Result<(), Refusal> {
        let start = clock.now();
        let deadline = start + Nanos::from(max_wait);
        let hopeless = |refusal: &Refusal| {
            let left: Duration = deadline.duration_since(clock.now()).into();
            refusal.cause == Cause::StoreUnavailable || refusal.wait > left
        };
        if self.waiting() == 0 {
            match self.take(clock, shared).await {
                Ok(()) => return Ok(()),
                Err(refusal) if hopeless(&refusal) => return Err(refusal),
                Err(_) => {}
            }
        }
        let Some(place) = Place::join(&self.waiters, max_waiters) else {
            let outlook = self.outlook(start, self.waiting());
            return Err(Refusal {
                cause: Cause::QueueFull,
                ..outlook
            });
        };
        let outlook = self.outlook(start, place.ahead);
        if outlook.wait > max_wait {
            return Err(outlook);
        }
        let _turn = tokio::select! {
            biased;
            turn = self.turn.lock() => turn,
            () = clock.sleep_until(deadline) => {
                return Err(self.outlook(clock.now(), self.waiting().saturating_sub(1)));
            }
        };
        loop {
            let refusal = match self.take(clock, shared).await {
                Ok(()) => return Ok(()),
                Err(refusal) => refusal,
            };
            if hopeless(&refusal) {
                return Err(refusal);
            }
            // At least a millisecond, so a zero wait from Redis cannot spin.
            let wait = refusal.wait.max(Duration::from_millis(1));
            clock.sleep_until(clock.now() + Nanos::from(wait)).await;
        }
    }

    pub(super) fn refused(&self, refusal: Refusal) -> RateLimited {
        RateLimited {
            budget: Budget::Team,
            class: Some(self.class),
            limit: self.limit.per_second.get(),
            retry_after: refusal.wait,
            cause: refusal.cause,
        }
    }
}

/// A place in the wait queue, given back when dropped (served, refused or cancelled).
struct Place<'a> {
    waiters: &'a AtomicUsize,
    /// How many were queued before this one.
    ahead: usize,
}

impl<'a> Place<'a> {
    fn join(waiters: &'a AtomicUsize, max_waiters: usize) -> Option<Place<'a>> {
        let ahead = waiters
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max_waiters).then_some(n + 1)
            })
            .ok()?;
        Some(Place { waiters, ahead })
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.waiters.fetch_sub(1, Ordering::AcqRel);
    }
}
