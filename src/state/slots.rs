//! A team's requests upstream at once (`server.max_in_flight_per_team`): one count that every
//! worker shares, taken without ever waiting, given back when the slot is dropped.
//!
//! Why not `tokio::sync::Semaphore`: nothing here waits for a slot, and a semaphore's give-back
//! also locks its waiters' mutex. On a count every worker writes, each of those atomic writes
//! moves the cache line between cores; a take here is one atomic add and a give-back one atomic
//! subtraction. The count sits on a cache line of its own, so the reads of the team's other
//! fields never wait for it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Up to `bound` slots, shared by every worker (and by the state a reload swaps in, while the
/// bound stays the same).
#[repr(align(64))]
#[derive(Debug)]
pub struct Slots {
    taken: AtomicUsize,
    bound: usize,
}

/// A slot taken from `Slots`; given back when dropped.
#[must_use = "the slot is given back as soon as it is dropped"]
#[derive(Debug)]
pub struct Slot<'a>(&'a Slots);

/// A slot that owns its hold on `Slots`, to outlive the request's borrow (a streamed answer's
/// body).
#[derive(Debug)]
pub struct OwnedSlot(Arc<Slots>);

impl Slots {
    pub fn new(bound: usize) -> Slots {
        Slots {
            taken: AtomicUsize::new(0),
            bound,
        }
    }

    /// A slot, or `None` when `bound` are taken.
    ///
    /// Taken by adding first: one atomic write where a compare-and-swap would need a read
    /// before it. A take that finds the count at the bound undoes its add; in that instant a
    /// concurrent take may be refused while the count is one under the bound (as it would be
    /// a moment earlier), but none is ever admitted over it.
    pub fn try_take(&self) -> Option<Slot<'_>> {
        // Acquire: a slot given back (Release) before is seen as given back.
        if self.taken.fetch_add(1, Ordering::Acquire) < self.bound {
            Some(Slot(self))
        } else {
            self.taken.fetch_sub(1, Ordering::Release);
            None
        }
    }

    /// How many slots are taken now.
    pub fn taken(&self) -> usize {
        self.taken.load(Ordering::Relaxed)
    }

    fn give_back(&self) {
        self.taken.fetch_sub(1, Ordering::Release);
    }
}

impl Slot<'_> {
    /// The same slot, held by an `Arc` of `slots` (which must be the `Slots` it came from) rather
    /// than borrowed. Cloning that `Arc` changes a count every worker shares, so only the
    /// requests that need it pay for it.
    pub fn keep(self, slots: &Arc<Slots>) -> OwnedSlot {
        debug_assert!(std::ptr::eq(self.0, &**slots), "a slot kept against other slots");
        std::mem::forget(self);
        OwnedSlot(slots.clone())
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.give_back();
    }
}

impl Drop for OwnedSlot {
    fn drop(&mut self) {
        self.0.give_back();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_refused_at_the_bound_and_given_back_on_drop() {
        let slots = Arc::new(Slots::new(2));
        let first = slots.try_take().expect("a free slot");
        let second = slots.try_take().expect("a free slot").keep(&slots);
        assert_eq!(slots.taken(), 2);
        assert!(slots.try_take().is_none(), "a third slot over a bound of two");
        assert_eq!(slots.taken(), 2, "a refused take leaves the count as it was");
        drop(first);
        let kept = slots.try_take().expect("the slot given back").keep(&slots);
        assert!(slots.try_take().is_none());
        drop(second);
        drop(kept);
        assert_eq!(slots.taken(), 0);
    }

    #[test]
    fn a_bound_of_zero_refuses_every_take() {
        let slots = Slots::new(0);
        assert!(slots.try_take().is_none());
        assert_eq!(slots.taken(), 0);
    }

    #[test]
    fn threads_taking_at_once_never_hold_more_than_the_bound() {
        const BOUND: usize = 3;
        let slots = Arc::new(Slots::new(BOUND));
        let most = Arc::new(AtomicUsize::new(0));
        let admitted = Arc::new(AtomicUsize::new(0));
        let holding = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (slots, most, admitted, holding) = (slots.clone(), most.clone(), admitted.clone(), holding.clone());
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        if let Some(slot) = slots.try_take() {
                            let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            admitted.fetch_add(1, Ordering::Relaxed);
                            holding.fetch_sub(1, Ordering::SeqCst);
                            drop(slot);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(
            most.load(Ordering::SeqCst) <= BOUND,
            "more than {BOUND} slots held at once"
        );
        assert!(admitted.load(Ordering::Relaxed) > 0);
        assert_eq!(slots.taken(), 0, "every slot given back");
    }
}
