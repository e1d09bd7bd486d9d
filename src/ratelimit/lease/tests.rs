//! Leases against the exact cell, on a `ManualLimiterClock`; "workers" are threads marked as
//! one (`worker::set_current`), or one thread switching between them.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use governor::{Quota, RateLimiter};

use crate::ratelimit::clock::ManualLimiterClock;
use crate::ratelimit::limit::Limit;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn limit(per_second: u32, burst: u32, workers: usize, clock: &ManualLimiterClock) -> Limit<ManualLimiterClock> {
    Limit::for_workers(nz(per_second), nz(burst), clock, workers)
}

/// Takes one slot as `worker`.
fn take_as(limit: &Limit<ManualLimiterClock>, worker: usize) -> bool {
    crate::worker::set_current(worker);
    let taken = limit.take().is_ok();
    crate::worker::set_current(0);
    taken
}

#[test]
fn only_limits_large_enough_for_every_worker_lease() {
    let clock = ManualLimiterClock::default();
    // Allo's own budgets, and anything under 2,000/s: never.
    assert!(!limit(20, 20, 4, &clock).leases());
    assert!(!limit(1_999, 1_999, 4, &clock).leases());
    // Two slots a millisecond, and eight leases of 2 fit in the burst.
    assert!(limit(2_000, 2_000, 4, &clock).leases());
    // One worker counts exactly.
    assert!(!limit(1_000_000, 1_000_000, 1, &clock).leases());
    // Leases of 1,000 for 2 workers would be more than a quarter of a burst of 7,999.
    assert!(!limit(1_000_000, 7_999, 2, &clock).leases());
    assert!(limit(1_000_000, 8_000, 2, &clock).leases());
}

/// What the limit says is what governor's limiter says, refusals' instants included, for
/// limits that do not lease: with several workers, and at any size with one.
#[test]
fn limits_without_leases_count_exactly_as_governor() {
    for (per_second, burst, workers) in [
        (5, 5, 4),
        (10, 20, 4),
        (20, 20, 2),
        (1_999, 3_000, 4),
        (50_000, 5_000, 1),
    ] {
        let clock = ManualLimiterClock::default();
        let ours = limit(per_second, burst, workers, &clock);
        assert!(!ours.leases());
        let quota = Quota::per_second(nz(per_second)).allow_burst(nz(burst));
        let theirs = RateLimiter::direct_with_clock(quota, clock.clone());
        // Arrivals at pseudo-random gaps of up to the limit's own interval: twice the limit.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let interval = 1_000_000_000 / u64::from(per_second);
        let (mut admitted, mut refused) = (0, 0);
        for step in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            clock.advance(Duration::from_nanos(seed % (interval + 1)));
            let worker = step % workers;
            crate::worker::set_current(worker);
            let expected = theirs.check().map_err(|not_until| not_until.earliest_possible());
            assert_eq!(ours.take(), expected, "{per_second}/s burst {burst}, step {step}");
            crate::worker::set_current(0);
            if expected.is_ok() {
                admitted += 1;
            } else {
                refused += 1;
            }
        }
        assert!(
            admitted > 0 && refused > 0,
            "{per_second}/s: {admitted} admitted, {refused} refused"
        );
    }
}

/// Four threads, each its own worker, spend a large limit at one instant until each is
/// refused: together they get exactly the burst, no slot lost in a lease, none counted twice.
#[test]
fn four_workers_together_get_exactly_the_burst() {
    let clock = ManualLimiterClock::default();
    let limit = limit(1_000_000, 100_000, 4, &clock);
    assert!(limit.leases());
    let admitted = AtomicU64::new(0);
    let start = Barrier::new(4);
    std::thread::scope(|scope| {
        for worker in 0..4 {
            let (limit, admitted, start) = (&limit, &admitted, &start);
            scope.spawn(move || {
                crate::worker::set_current(worker);
                start.wait();
                while limit.take().is_ok() {
                    admitted.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(admitted.into_inner(), 100_000);
}

/// A worker that took a lease and went quiet does not make another worker's request refused:
/// the refusal takes the lease back first.
#[test]
fn a_quiet_workers_lease_is_taken_back_before_a_refusal() {
    let clock = ManualLimiterClock::default();
    let limit = limit(100_000, 10_000, 2, &clock);
    assert!(take_as(&limit, 0));
    let mut others = 0;
    while take_as(&limit, 1) {
        others += 1;
    }
    assert_eq!(others, 10_000 - 1);
    // Nothing is left in worker 0's lease either.
    assert!(!take_as(&limit, 0));
}

/// Four workers offered 120 % of a large limit for two seconds, against the exact cell offered
/// the same: the leased limit never runs ahead of the exact one by more than one lease per
/// worker, and over the run admits about as much (lapsed leases are given back, not burnt).
#[test]
fn over_time_four_workers_stay_within_one_lease_each_of_the_exact_count() {
    let (per_second, burst, workers) = (100_000, 20_000, 4);
    let clock = ManualLimiterClock::default();
    let leased = limit(per_second, burst, workers, &clock);
    let exact = limit(per_second, burst, 1, &clock);
    assert!(leased.leases() && !exact.leases());
    let lease = u64::from(per_second / 1000);
    let (mut ours, mut theirs) = (0_u64, 0_u64);
    // Every 100 µs each worker offers 3 requests: 120,000/s.
    for _ in 0..20_000 {
        for worker in 0..workers {
            for _ in 0..3 {
                ours += u64::from(take_as(&leased, worker));
                theirs += u64::from(exact.take().is_ok());
            }
        }
        assert!(
            ours <= theirs + lease * workers as u64,
            "ahead of the exact count: {ours} against {theirs}"
        );
        clock.advance(Duration::from_micros(100));
    }
    // The exact count: the burst, then the rate until the last step, at 1.9999 s.
    assert!(theirs.abs_diff(u64::from(burst) + 199_990) <= 1, "{theirs}");
    assert!(
        ours + lease * workers as u64 >= theirs,
        "behind the exact count by more than the leases: {ours} against {theirs}"
    );
}

/// A quiet spell after a lease: its slots are given back while fresh, so at the next instant
/// the bucket holds what it would have without the lease.
#[test]
fn a_lapsed_lease_gives_its_slots_back() {
    let clock = ManualLimiterClock::default();
    let limit = limit(100_000, 10_000, 2, &clock);
    // Worker 0 takes a lease of 100 and spends 1.
    assert!(take_as(&limit, 0));
    // Its life (1 ms) passes: the lease lapses with 99 left, which its next take gives back.
    clock.advance(Duration::from_micros(1_001));
    assert!(take_as(&limit, 0));
    // Bucket: full (10,000) less the one spent now (the first slot came back meanwhile).
    let mut more = 0;
    while take_as(&limit, 1) {
        more += 1;
    }
    assert_eq!(more, 10_000 - 1);
}

/// A worker that spends its whole lease gets the next one from its next request, and goes on
/// spending from its own line (a lease spent to its last slot leaves room for the next).
#[test]
fn a_lease_spent_to_its_last_slot_is_followed_by_a_new_one() {
    let clock = ManualLimiterClock::default();
    let limit = limit(100_000, 10_000, 2, &clock);
    // Leases of 100: the first take leaves 99.
    assert!(take_as(&limit, 0));
    assert_eq!(limit.lease_left(0), 99);
    for _ in 0..99 {
        assert!(take_as(&limit, 0));
    }
    assert_eq!(limit.lease_left(0), 0);
    // The 101st: a new lease, 99 left in it again.
    assert!(take_as(&limit, 0));
    assert_eq!(limit.lease_left(0), 99);
    assert_eq!(limit.lease_left(1), 0);
}
