//! The time the limiters live in. One clock serves the limiters' cells, the holds set from
//! Allo's headers (which need the wall clock to read `X-RateLimit-Reset`) and the waits of
//! wait mode, so a test that moves a `ManualLimiterClock` moves all three together, deterministically
//! and without sleeping. Production uses `RealClock`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use governor::clock::FakeRelativeClock;
use governor::nanos::Nanos;

/// A governor clock that can also tell Unix time and wait for one of its own instants.
pub trait LimiterClock: governor::clock::Clock + Clone + Send + Sync + 'static {
    /// Time since the Unix epoch (what `X-RateLimit-Reset` is counted in).
    fn unix_now(&self) -> Duration;

    /// Resolves once `now() >= until`.
    fn sleep_until(&self, until: Self::Instant) -> impl Future<Output = ()> + Send;
}

/// The monotonic clock for limiters and waits, and the system clock for Unix time.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealClock;

impl governor::clock::Clock for RealClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        crate::wake_time::now()
    }
}

impl LimiterClock for RealClock {
    fn unix_now(&self) -> Duration {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
    }

    fn sleep_until(&self, until: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(until.into())
    }
}

/// A clock that moves only when told to (`advance`), waking whoever sleeps on it. Clones share
/// the same time. For tests, here and in other modules.
#[derive(Debug, Clone)]
pub struct ManualLimiterClock {
    time: FakeRelativeClock,
    unix_start: Duration,
    ticks: Arc<tokio::sync::watch::Sender<()>>,
}

impl ManualLimiterClock {
    /// A clock whose `unix_now` starts at `unix_start`.
    pub fn new(unix_start: Duration) -> ManualLimiterClock {
        let (ticks, _) = tokio::sync::watch::channel(());
        ManualLimiterClock {
            time: FakeRelativeClock::default(),
            unix_start,
            ticks: Arc::new(ticks),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.time.advance(by);
        self.ticks.send_replace(());
    }

    /// Time elapsed since the clock was made.
    pub fn elapsed(&self) -> Duration {
        governor::clock::Clock::now(&self.time).into()
    }
}

impl Default for ManualLimiterClock {
    /// Starts on 2023-11-14T22:13:20Z (Unix 1_700_000_000).
    fn default() -> Self {
        ManualLimiterClock::new(Duration::from_secs(1_700_000_000))
    }
}

impl governor::clock::Clock for ManualLimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        governor::clock::Clock::now(&self.time)
    }
}

impl LimiterClock for ManualLimiterClock {
    fn unix_now(&self) -> Duration {
        self.unix_start + self.elapsed()
    }

    fn sleep_until(&self, until: Nanos) -> impl Future<Output = ()> + Send {
        let clock = self.clone();
        // Subscribing before looking at the time means no `advance` can slip in between.
        let mut ticks = self.ticks.subscribe();
        async move {
            while governor::clock::Clock::now(&clock) < until {
                if ticks.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}
