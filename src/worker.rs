//! Which worker a thread is, and how many serve (`server::workers` runs them). Its own room so
//! that the per-worker state of other rooms (upstream connections, metric shards) can find
//! its shard without depending on the server.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

/// How many workers serve: set once by `run` before the state is built.
static COUNT: AtomicUsize = AtomicUsize::new(1);

/// The worker this thread is (0 on any thread that is not a worker's).
pub fn current() -> usize {
    CURRENT.with(Cell::get)
}

/// How many workers serve (1 until `set_count`).
pub fn count() -> usize {
    COUNT.load(Ordering::Relaxed)
}

/// Sets the number of workers, so that per-worker state (upstream connections) is built for
/// each of them.
pub fn set_count(workers: usize) {
    COUNT.store(workers.max(1), Ordering::Relaxed);
}

/// Marks this thread as worker `id`.
pub fn set_current(id: usize) {
    CURRENT.with(|current| current.set(id));
}

/// One `T` per worker, each alone on its cache lines (128 bytes: the line and the one the
/// processor fetches with it), so a worker writing its own never slows another reading or
/// writing theirs. Built for `count()` workers; a thread that is not a worker's gets the first.
pub struct PerWorker<T>(Box<[Padded<T>]>);

#[repr(align(128))]
struct Padded<T>(T);

impl<T> PerWorker<T> {
    /// One `make()` per worker.
    pub fn new(make: impl FnMut() -> T) -> PerWorker<T> {
        PerWorker::with_workers(count(), make)
    }

    /// One `make()` for each of `workers` workers (at least one).
    pub fn with_workers(workers: usize, mut make: impl FnMut() -> T) -> PerWorker<T> {
        PerWorker::for_workers(workers, || Ok::<T, std::convert::Infallible>(make()))
            .unwrap_or_else(|never| match never {})
    }

    /// One `make()` per worker, or the first error.
    pub fn try_new<E>(make: impl FnMut() -> Result<T, E>) -> Result<PerWorker<T>, E> {
        PerWorker::for_workers(count(), make)
    }

    /// For `workers` workers, and at least one, so there is always a first.
    fn for_workers<E>(workers: usize, mut make: impl FnMut() -> Result<T, E>) -> Result<PerWorker<T>, E> {
        (0..workers.max(1))
            .map(|_| make().map(Padded))
            .collect::<Result<_, _>>()
            .map(PerWorker)
    }

    /// This thread's worker's.
    pub fn current(&self) -> &T {
        let all = &self.0;
        // Never empty (see `for_workers`).
        &all.get(current()).unwrap_or(&all[0]).0
    }

    /// Every worker's, in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.0.iter().map(|padded| &padded.0)
    }

    /// How many workers it was built for.
    pub fn workers(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(workers: usize) -> PerWorker<usize> {
        let mut next = 0;
        PerWorker::for_workers(workers, || {
            next += 1;
            Ok::<_, ()>(next)
        })
        .unwrap()
    }

    #[test]
    fn each_worker_has_its_own_cache_lines_and_other_threads_the_first() {
        let all = numbered(3);
        let addresses: Vec<usize> = all.iter().map(|x| x as *const usize as usize).collect();
        for pair in addresses.windows(2) {
            assert!(pair[1] - pair[0] >= 128, "two workers' values within 128 bytes");
        }
        assert!(addresses.iter().all(|a| a % 128 == 0));
        std::thread::spawn(move || {
            set_current(2);
            assert_eq!(*all.current(), 3);
            set_current(7);
            assert_eq!(*all.current(), 1, "not a worker: the first");
        })
        .join()
        .unwrap();
        assert_eq!(numbered(0).workers(), 1, "always a first");
    }
}
