//! One limit: the quota it was built from (so a reload can tell whether it changed and the
//! state must be dropped, or not and it is kept), its shared cell (`gcra`), and, for a limit
//! large enough to be spent by several workers at once, one lease per worker (`lease`).
//!
//! Why leases: with one cell, every worker writes the same cache line on every request it
//! admits, and on two cores that line crossing back and forth cost ~0.4 µs per request
//! (measured with the limiters switched off, against nginx). A lease is a millisecond's worth
//! of the limit taken from the cell at once and spent on the worker's own cache line. Allo's
//! own budgets (20 reads and 5 writes per second) and any limit under 2,000 per second never
//! lease (`lease`): they are counted exactly, one take at a time, as is every limit with one
//! worker.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Reference;
use governor::nanos::Nanos;

use super::clock::LimiterClock;
use super::gcra::Cell;
use super::lease::Leases;

pub(super) struct Limit<C: LimiterClock> {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
    cell: Cell,
    clock: C,
    /// Time zero of the cell's scale.
    start: C::Instant,
    leases: Option<Leases>,
}

impl<C: LimiterClock> Limit<C> {
    /// A limit for the serving workers (`worker::count`).
    pub(super) fn new(per_second: NonZeroU32, burst: NonZeroU32, clock: &C) -> Limit<C> {
        Limit::for_workers(per_second, burst, clock, crate::worker::count())
    }

    /// A limit spent by `workers` workers.
    pub(super) fn for_workers(per_second: NonZeroU32, burst: NonZeroU32, clock: &C, workers: usize) -> Limit<C> {
        let cell = Cell::new(per_second, burst);
        let leases = Leases::fitting(per_second, burst, cell.slot(), workers);
        Limit {
            per_second,
            burst,
            cell,
            clock: clock.clone(),
            start: clock.now(),
            leases,
        }
    }

    pub(super) fn same_quota(&self, per_second: NonZeroU32, burst: NonZeroU32) -> bool {
        self.per_second == per_second && self.burst == burst
    }

    /// Spends one slot, or tells the earliest instant one will be free. Nothing is spent on
    /// a refusal.
    pub(super) fn take(&self) -> Result<(), C::Instant> {
        let now = self.clock.now().duration_since(self.start).as_u64();
        let taken = match &self.leases {
            None => self.cell.take(now, 1, 0),
            Some(leases) => leases.take(&self.cell, now),
        };
        taken.map_err(|earliest| self.start + Nanos::new(earliest))
    }

    /// The time one slot takes to come back.
    pub(super) fn interval(&self) -> Duration {
        Duration::from_nanos(self.cell.slot())
    }

    /// Whether this limit leases (for tests).
    #[cfg(test)]
    pub(super) fn leases(&self) -> bool {
        self.leases.is_some()
    }

    /// The slots left in `worker`'s lease (for tests).
    #[cfg(test)]
    pub(super) fn lease_left(&self, worker: usize) -> u64 {
        self.leases.as_ref().map_or(0, |leases| leases.left(worker))
    }
}
