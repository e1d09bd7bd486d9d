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
