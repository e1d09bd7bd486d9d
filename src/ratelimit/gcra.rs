//! One limit's shared state: the generic cell rate algorithm on one atomic word, counted as
//! governor counts it (a quota of `per_second` with `burst` at once: a fresh cell admits
//! `burst` requests, then one every `1 / per_second`). Time is nanoseconds on the limit's own
//! scale (since it was made); the clock and the leases that spend it are `limit`'s.
//!
//! Own code rather than governor's limiter for two things governor cannot do: take a slot
//! only if a reserve stays in the bucket (a lease never empties it past half), and give unused
//! slots back.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Alone on its cache lines: a neighbour written by another core would make every take pay
/// for fetching the line back.
#[repr(align(128))]
pub(super) struct Cell {
    /// The theoretical arrival time: when the bucket is empty again if nothing more is taken
    /// is `tat`, and it is full from `tat - tau` on. 0 is a full bucket at any time.
    tat: AtomicU64,
    /// Nanoseconds one slot takes to come back.
    t: u64,
    /// How far ahead of now `tat` may run: `burst - 1` slots.
    tau: u64,
}

impl Cell {
    pub(super) fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Cell {
        let t = slot_nanos(per_second);
        Cell {
            tat: AtomicU64::new(0),
            t,
            tau: t.saturating_mul(u64::from(burst.get() - 1)),
        }
    }

    /// Takes `n` slots at once at `now`, if at least `reserve` more could still be taken after
    /// them; or tells the earliest time the same take would succeed. Nothing is taken on a
    /// refusal.
    pub(super) fn take(&self, now: u64, n: u64, reserve: u64) -> Result<(), u64> {
        let (t, tau) = (self.t, self.tau);
        // The take passes when the last of its slots, plus the reserve, fits in the burst.
        let weight = t.saturating_mul((n - 1).saturating_add(reserve));
        let mut tat = self.tat.load(Ordering::Acquire);
        loop {
            let earliest = tat.saturating_add(weight).saturating_sub(tau);
            if now < earliest {
                return Err(earliest);
            }
            let next = tat.max(now).saturating_add(t.saturating_mul(n));
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(actual) => tat = actual,
            }
        }
    }

    /// Puts back `n` slots taken and never used.
    pub(super) fn give_back(&self, n: u64) {
        let slots = self.t.saturating_mul(n);
        // The closure never declines, so the update always lands.
        let _ = self.tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
            Some(tat.saturating_sub(slots))
        });
    }

    /// Nanoseconds one slot takes to come back.
    pub(super) fn slot(&self) -> u64 {
        self.t
    }
}

/// `1 / per_second` in whole nanoseconds (at least one), as governor rounds it.
fn slot_nanos(per_second: NonZeroU32) -> u64 {
    let slot = Duration::from_secs(1) / per_second.get();
    u64::try_from(slot.as_nanos()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(per_second: u32, burst: u32) -> Cell {
        Cell::new(NonZeroU32::new(per_second).unwrap(), NonZeroU32::new(burst).unwrap())
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn a_fresh_cell_admits_its_burst_then_one_per_slot() {
        let cell = cell(10, 3);
        for _ in 0..3 {
            assert_eq!(cell.take(5 * MS, 1, 0), Ok(()));
        }
        // The fourth waits for the first slot to come back: 100 ms after the first.
        assert_eq!(cell.take(5 * MS, 1, 0), Err(105 * MS));
        assert_eq!(cell.take(104 * MS, 1, 0), Err(105 * MS));
        assert_eq!(cell.take(105 * MS, 1, 0), Ok(()));
        assert_eq!(cell.take(105 * MS, 1, 0), Err(205 * MS));
    }

    #[test]
    fn a_take_with_a_reserve_leaves_it_in_the_bucket() {
        let cell = cell(1000, 10);
        // 4 of 10, keeping 5: passes; 2 more keeping 5 would leave only 4.
        assert_eq!(cell.take(0, 4, 5), Ok(()));
        assert!(cell.take(0, 2, 5).is_err());
        // The reserve is still there for single takes: 6 of them.
        for _ in 0..6 {
            assert_eq!(cell.take(0, 1, 0), Ok(()));
        }
        assert!(cell.take(0, 1, 0).is_err());
    }

    #[test]
    fn slots_given_back_can_be_taken_again_but_never_overfill_the_bucket() {
        let cell = cell(1000, 5);
        assert_eq!(cell.take(0, 5, 0), Ok(()));
        assert!(cell.take(0, 1, 0).is_err());
        cell.give_back(2);
        assert_eq!(cell.take(0, 2, 0), Ok(()));
        assert!(cell.take(0, 1, 0).is_err());
        // Given back into a full bucket: still only the burst.
        let later = 100 * MS;
        cell.give_back(50);
        assert_eq!(cell.take(later, 5, 0), Ok(()));
        assert!(cell.take(later, 1, 0).is_err());
    }
}
