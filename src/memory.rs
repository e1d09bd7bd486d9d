//! Giving memory back after a burst of large bodies. glibc's allocator keeps what a thread
//! freed in that thread's arena for reuse and returns pages to the system only from the top of
//! the heap, so after a burst of large request bodies (the bytes, the parsed document, the
//! error listing) a process stays resident near its peak long after the memory is free:
//! measured here, 50 clients posting 0.8–0.9 MB bodies took a 14 MiB gateway to 60–85 MiB,
//! and it held 55–69 MiB afterwards for good.
//!
//! Reading a request body of at least `LARGE_BODY` bytes adds its size to a count (one
//! relaxed atomic add, only for such bodies). A background task looks every `CHECK_EVERY`:
//! once a burst is over (bodies were counted in an earlier period, none in this one) and it
//! came to at least `TRIM_AFTER` bytes, it asks the allocator to return its free pages
//! (`malloc_trim(0)`), which took the same process back to 15 MiB. Nothing is trimmed while
//! large bodies keep arriving, when the memory is about to be used again anyway.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A request body this large counts toward a burst.
pub const LARGE_BODY: usize = 64 * 1024;
/// A burst of at least this many bytes is worth a trim.
pub const TRIM_AFTER: u64 = 4 * 1024 * 1024;
/// How often the count is looked at.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

static LARGE_BYTES: AtomicU64 = AtomicU64::new(0);

/// Notes a request body of `len` bytes (only large ones count).
pub fn note_body(len: usize) {
    if len >= LARGE_BODY {
        LARGE_BYTES.fetch_add(len as u64, Ordering::Relaxed);
    }
}

/// Starts the task that gives memory back once a burst of large bodies is over.
pub fn start_giving_back() {
    tokio::spawn(async {
        let mut burst = Burst::default();
        let mut every = tokio::time::interval(CHECK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if burst.period(LARGE_BYTES.swap(0, Ordering::Relaxed)) {
                let released = give_back();
                tracing::debug!(released, "a burst of large bodies is over; free memory given back");
            }
        }
    });
}

/// The bytes of the burst under way.
#[derive(Default)]
struct Burst {
    bytes: u64,
}

impl Burst {
    /// One period's large-body bytes; true when a burst worth a trim has just ended.
    fn period(&mut self, bytes: u64) -> bool {
        if bytes > 0 {
            self.bytes = self.bytes.saturating_add(bytes);
            return false;
        }
        let ended = self.bytes >= TRIM_AFTER;
        self.bytes = 0;
        ended
    }
}

/// Asks the allocator to return its free pages; whether it gave any back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn give_back() -> bool {
    // SAFETY: `malloc_trim` takes no pointer and touches only the allocator's own free lists,
    // under the locks every allocation takes.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Other allocators (musl's, macOS's) return memory themselves, or have no such call.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trim_comes_once_a_large_enough_burst_is_over() {
        let mut burst = Burst::default();
        assert!(!burst.period(TRIM_AFTER / 2), "still arriving");
        assert!(!burst.period(TRIM_AFTER), "still arriving");
        assert!(burst.period(0), "over, and large enough");
        assert!(!burst.period(0), "already given back");
    }

    #[test]
    fn a_small_burst_is_left_alone() {
        let mut burst = Burst::default();
        assert!(!burst.period(TRIM_AFTER - 1));
        assert!(!burst.period(0));
    }

    #[test]
    fn giving_back_is_safe_to_call_at_any_time() {
        let held: Vec<Vec<u8>> = (0..64).map(|_| vec![1u8; 256 * 1024]).collect();
        drop(held);
        let _ = give_back();
    }
}
