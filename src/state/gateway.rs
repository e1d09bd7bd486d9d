//! The handle every worker serves through: the current state behind an atomic pointer that a
//! reload swaps, each worker's own hold on it, and whether the process is draining.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use super::Runtime;
use crate::key_status::KeyChecks;
use crate::metrics::Metrics;

/// What every connection shares: the current state and whether the process is draining.
/// Clones are handles on the same state: each worker takes one of its own, so the reference
/// counts its requests change are on cache lines no other worker writes (see `serving`).
pub struct Gateway {
    runtime: Arc<ArcSwap<Runtime>>,
    /// Counts swaps; written only by a reload, so reading it shares the line without moving it.
    generation: Arc<Generation>,
    /// This handle's hold on a state, from its first `serving` on.
    held: Mutex<Option<Held>>,
    draining: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
    /// What Allo last said about each team's key; outlives every reload.
    pub key_checks: Arc<KeyChecks>,
    /// Counts swaps, so a task that depends on the config learns of each new one.
    swapped: Arc<tokio::sync::watch::Sender<u64>>,
}

/// The swap count on a cache line of its own.
#[repr(align(64))]
#[derive(Default)]
struct Generation(AtomicU64);

/// A handle's hold on the state of one generation.
struct Held {
    generation: u64,
    runtime: Serving,
}

/// The state a request runs on, as `Gateway::serving` hands it out: a reference count of
/// the handle's own wrapped around the shared one.
pub type Serving = Arc<Arc<Runtime>>;

impl Clone for Gateway {
    fn clone(&self) -> Gateway {
        Gateway {
            runtime: self.runtime.clone(),
            generation: self.generation.clone(),
            held: Mutex::new(None),
            draining: self.draining.clone(),
            metrics: self.metrics.clone(),
            key_checks: self.key_checks.clone(),
            swapped: self.swapped.clone(),
        }
    }
}

impl Gateway {
    pub fn new(runtime: Runtime) -> Gateway {
        Gateway {
            metrics: runtime.metrics.clone(),
            runtime: Arc::new(ArcSwap::from_pointee(runtime)),
            generation: Arc::default(),
            held: Mutex::new(None),
            draining: Arc::new(AtomicBool::new(false)),
            key_checks: Arc::default(),
            swapped: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    /// Changes each time a new state is swapped in.
    pub fn swaps(&self) -> tokio::sync::watch::Receiver<u64> {
        self.swapped.subscribe()
    }

    /// The state a request runs on from start to end, even if a reload happens meanwhile.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// As `runtime`, for the request path: the state's own reference count is shared by
    /// every worker, and two changes of it per request would move its cache line between
    /// cores each time. This handle's count is changed instead; the shared one once per
    /// reload. A state swapped out stays alive until the handle's next request, or until
    /// `release_stale`, which each worker calls when a reload swaps one in.
    pub fn serving(&self) -> Serving {
        let generation = self.generation.0.load(Ordering::Acquire);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        match &*held {
            Some(current) if current.generation == generation => current.runtime.clone(),
            _ => {
                // Loaded after the count: a swap in between is seen at the next request.
                let runtime = Arc::new(self.runtime.load_full());
                *held = Some(Held {
                    generation,
                    runtime: runtime.clone(),
                });
                runtime
            }
        }
    }

    /// Lets go of this handle's hold on a state a reload has swapped out, so that an idle worker
    /// does not keep it (its upstream connections included) until its next request. Requests
    /// still running on it keep their own counts.
    pub fn release_stale(&self) {
        let generation = self.generation.0.load(Ordering::Acquire);
        let stale = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            match &*held {
                Some(current) if current.generation != generation => held.take(),
                _ => None,
            }
        };
        // Possibly the last count of the old state: dropped (sockets closed) after the lock.
        drop(stale);
    }

    /// Makes `runtime` the state new requests run on, after it has inherited from the current
    /// one. Requests already running keep theirs. Reloads are serialised by their caller.
    pub fn swap(&self, mut runtime: Runtime) {
        runtime.inherit(&self.runtime.load());
        self.runtime.store(Arc::new(runtime));
        // After the store: whoever sees the new count then loads the new state.
        self.generation.0.fetch_add(1, Ordering::AcqRel);
        self.swapped.send_modify(|count| *count = count.wrapping_add(1));
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
