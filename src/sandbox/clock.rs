//! The sandbox's notion of time: a monotonic reading (time since an arbitrary epoch) added to
//! a wall-clock base taken once. Rate-limit windows and the `created_at`/`updated_at` stamps
//! both read it, so a test can drive both with `ManualSandboxClock` instead of sleeping, and a wall
//! clock jumping backwards can never reopen a spent rate-limit window.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type NowFn = dyn Fn() -> Duration + Send + Sync;

/// Unix time as `base + now()`.
#[derive(Clone)]
pub(crate) struct SandboxClock {
    unix_base: Duration,
    now: Arc<NowFn>,
}

impl SandboxClock {
    /// The real clock: wall time at construction plus `Instant` elapsed since.
    pub(super) fn system() -> SandboxClock {
        let unix_base = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let start = Instant::now();
        SandboxClock {
            unix_base,
            now: Arc::new(move || start.elapsed()),
        }
    }

    pub(super) fn from_fn(unix_base_secs: u64, now: Arc<NowFn>) -> SandboxClock {
        SandboxClock {
            unix_base: Duration::from_secs(unix_base_secs),
            now,
        }
    }

    /// Current time as a duration since the Unix epoch.
    pub(super) fn unix(&self) -> Duration {
        self.unix_base.saturating_add((self.now)())
    }

    /// Current time as Allo renders it in queue objects.
    pub(super) fn timestamp(&self) -> String {
        format_timestamp(self.unix().as_secs())
    }
}

/// A hand-driven clock for tests (unit and integration): starts at zero and moves only when
/// told. Pass `clock.now_fn()` to `Sandbox::with_clock`.
#[derive(Clone, Default)]
pub struct ManualSandboxClock {
    millis: Arc<AtomicU64>,
}

impl ManualSandboxClock {
    pub fn new() -> ManualSandboxClock {
        ManualSandboxClock::default()
    }

    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.millis.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn now_fn(&self) -> impl Fn() -> Duration + Send + Sync + 'static {
        let millis = Arc::clone(&self.millis);
        move || Duration::from_millis(millis.load(Ordering::SeqCst))
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC. Allo's examples mix offset-less and `Z` forms; the sandbox
/// always writes the `Z` so the value is a valid RFC 3339 date-time. Past the year 9999, which
/// RFC 3339 cannot write, the last second of that year.
pub(super) fn format_timestamp(unix_secs: u64) -> String {
    const LAST_RFC3339_SECOND: u64 = 253_402_300_799;
    let at = UNIX_EPOCH + Duration::from_secs(unix_secs.min(LAST_RFC3339_SECOND));
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_timestamp(1_778_061_600), "2026-05-06T10:00:00Z");
        assert_eq!(format_timestamp(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let manual = ManualSandboxClock::new();
        let clock = SandboxClock::from_fn(1_000, Arc::new(manual.now_fn()));
        assert_eq!(clock.unix(), Duration::from_secs(1_000));
        manual.advance(Duration::from_millis(1_500));
        assert_eq!(clock.unix(), Duration::from_millis(1_001_500));
    }

    #[test]
    fn extreme_values_do_not_panic() {
        assert_eq!(format_timestamp(u64::MAX), "9999-12-31T23:59:59Z");
        let clock = SandboxClock::from_fn(u64::MAX, Arc::new(|| Duration::MAX));
        let _ = clock.timestamp();
    }
}
