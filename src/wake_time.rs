//! The time of a connection task's wake-up, read from the clock at most once per wake-up.
//! A request's steps ask for the time several times (its start, the limiters' clock, when it
//! went upstream) and each read of the monotonic clock costs about 25 ns; the steps of one
//! wake-up run within microseconds of each other, so they share one read, as nginx's event
//! loop shares one per turn. Outside a connection task's poll (`Wake`), `now` reads the clock.
//!
//! The clock is tokio's, so that the connection's own timekeeping (idle and head deadlines,
//! the upstream request's deadline) can share the read too, and a test that pauses tokio's
//! clock sees one time everywhere. Outside tests it is the monotonic clock itself.

use std::cell::Cell;

use tokio::time::Instant;

thread_local! {
    /// None: not in a wake-up; Some(None): in one, the clock not read yet.
    static NOW: Cell<Option<Option<Instant>>> = const { Cell::new(None) };
}

/// Marks one poll of a connection task, from `begin` to the drop.
pub(crate) struct Wake(());

impl Wake {
    pub(crate) fn begin() -> Wake {
        NOW.set(Some(None));
        Wake(())
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        NOW.set(None);
    }
}

/// The wake-up's time (read now if this is the wake-up's first ask), or the clock's outside one.
pub fn now() -> std::time::Instant {
    tokio_now().into_std()
}

/// As `now`, as tokio's timers take it.
pub fn tokio_now() -> Instant {
    match NOW.get() {
        Some(Some(at)) => at,
        Some(None) => {
            let at = Instant::now();
            NOW.set(Some(Some(at)));
            at
        }
        None => Instant::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_read_per_wake_up_and_the_clock_outside_one() {
        let outside = now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(now() > outside, "outside a wake-up every ask reads the clock");
        let wake = Wake::begin();
        let first = now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(now(), first, "within a wake-up the first read stands");
        drop(wake);
        assert!(now() > first);
        let _next = Wake::begin();
        assert!(now() > first, "a new wake-up reads the clock again");
    }
}
