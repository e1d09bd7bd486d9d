//! Per-worker leases on a limit's cell: each worker spends slots taken from the shared cell in
//! a batch, on its own cache line, so the cell's line is written once per lease instead of
//! once per request.
//!
//! The rules, and what they cost in exactness:
//! - A lease is `per_second / 1000` slots (a millisecond's worth) and good for the time they
//!   take to come back (its life, about a millisecond). All leases together are at most a
//!   quarter of the burst, or there are none.
//! - A lease is taken only if the bucket stays at least half full after it. Near the limit,
//!   every request goes to the cell one at a time, exactly as without leases.
//! - A lease that lapses with slots left gives them back, unless it lapsed more than one life
//!   ago (then its slots are dropped: they are in the past, and returning them could only
//!   admit more than the limit).
//! - A refusal by the cell first takes back the other workers' leases (those still fresh) and
//!   asks once more, so slots idling in another worker's lease do not refuse a request.
//!
//! Slots are taken from the cell before they are spent, so the leases never admit more than
//! the cell allows, save that a slot is spent up to a lease's life after it was taken and that
//! a lease returned after its life began may have missed a refill (the bucket was full
//! meanwhile): each such return moves the count by at most that lease's slots. A slot can be
//! lost (an idle worker's lease dropped), never counted twice. The tests hold the leased count
//! within one lease per worker of the exact one, step by step, under 120 % of the limit.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use super::gcra::Cell;
use crate::worker::PerWorker;

/// The smallest limit that leases: below it a millisecond holds fewer than two slots.
const LEASE_MIN_PER_SECOND: u32 = 2_000;

/// The slots left, in the low bits of a lease's word.
const LEFT_BITS: u32 = 20;
const LEFT_MASK: u64 = (1 << LEFT_BITS) - 1;
/// The lease's end, in the high bits, in units of 2^16 ns (65.5 µs): 44 bits of them reach
/// 36 years on the limit's scale.
const TIME_SHIFT: u32 = 16;

pub(super) struct Leases {
    /// Slots per lease.
    slots: u64,
    /// How long a lease is good: the time its slots take to come back.
    life: u64,
    /// What a lease leaves in the bucket at least: half the burst.
    reserve: u64,
    each: PerWorker<Lease>,
}

impl Leases {
    /// The leases a limit gets for `workers` workers, if leasing fits it: a millisecond's
    /// worth of slots is at least two and all leases together at most a quarter of the burst.
    pub(super) fn fitting(per_second: NonZeroU32, burst: NonZeroU32, slot: u64, workers: usize) -> Option<Leases> {
        if workers < 2 || per_second.get() < LEASE_MIN_PER_SECOND {
            return None;
        }
        let slots = u64::from(per_second.get() / 1000).min(LEFT_MASK);
        let burst = u64::from(burst.get());
        let workers_u64 = u64::try_from(workers).unwrap_or(u64::MAX);
        if slots < 2 || slots.saturating_mul(4).saturating_mul(workers_u64) > burst {
            return None;
        }
        Some(Leases {
            slots,
            life: slots.saturating_mul(slot),
            reserve: burst / 2,
            each: PerWorker::with_workers(workers, Lease::default),
        })
    }

    /// Spends a slot at `now`: from this worker's lease, else from a new lease, else from the
    /// cell itself, else from the cell after taking back the other leases.
    pub(super) fn take(&self, cell: &Cell, now: u64) -> Result<(), u64> {
        let mine = self.each.current();
        if mine.spend(now) {
            return Ok(());
        }
        self.settle(cell, mine, now);
        if cell.take(now, self.slots, self.reserve).is_ok() {
            // This request spends the first slot.
            let left = self.slots - 1;
            if !mine.grant(now.saturating_add(self.life), left) {
                // Another thread counted as this worker granted first: keep theirs.
                cell.give_back(left);
            }
            return Ok(());
        }
        cell.take(now, 1, 0).or_else(|_| {
            for lease in self.each.iter() {
                self.settle(cell, lease, now);
            }
            cell.take(now, 1, 0)
        })
    }

    /// Empties `lease`, giving its slots back if it lapsed less than one life ago.
    fn settle(&self, cell: &Cell, lease: &Lease, now: u64) {
        if let Some((until, left)) = lease.empty() {
            if now < until.saturating_add(self.life) {
                cell.give_back(left);
            }
        }
    }
}

/// One worker's lease: its end and the slots left, in one word so that a spend checks both
/// and a take-back empties both at once. 0 is no lease.
#[derive(Default)]
struct Lease(AtomicU64);

impl Lease {
    /// Spends one slot, if the lease has one and is still good at `now`.
    fn spend(&self, now: u64) -> bool {
        let mut word = self.0.load(Ordering::Relaxed);
        loop {
            let (until, left) = unpack(word);
            if left == 0 || now >= until {
                return false;
            }
            // The last slot spent leaves no lease (0), so that the next one can be granted.
            let spent = if left == 1 { 0 } else { word - 1 };
            match self
                .0
                .compare_exchange_weak(word, spent, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    /// Sets a lease good until `until` with `left` slots, if there is none.
    fn grant(&self, until: u64, left: u64) -> bool {
        self.0
            .compare_exchange(0, pack(until, left), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lease away: its end and slots left, if it had any slot left.
    fn empty(&self) -> Option<(u64, u64)> {
        // Looked at before it is written: a refusal looks at every worker's lease.
        if self.0.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let (until, left) = unpack(self.0.swap(0, Ordering::Relaxed));
        (left > 0).then_some((until, left))
    }
}

/// The end is rounded down to its unit, so a lease never outlives its life.
fn pack(until: u64, left: u64) -> u64 {
    let units = (until >> TIME_SHIFT).min(u64::MAX >> LEFT_BITS);
    (units << LEFT_BITS) | left.min(LEFT_MASK)
}

fn unpack(word: u64) -> (u64, u64) {
    ((word >> LEFT_BITS) << TIME_SHIFT, word & LEFT_MASK)
}

#[cfg(test)]
impl Leases {
    /// The slots left in `worker`'s lease.
    pub(super) fn left(&self, worker: usize) -> u64 {
        let lease = self.each.iter().nth(worker).expect("a lease for each worker");
        unpack(lease.0.load(Ordering::Relaxed)).1
    }
}

#[cfg(test)]
mod tests;
