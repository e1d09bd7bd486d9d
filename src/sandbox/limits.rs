//! Allo's own per-key rate limits as the sandbox enforces them: 20 reads (GET) and 5 writes
//! (every other method) per second, counted in fixed windows aligned to whole Unix seconds.
//! Fixed windows make `X-RateLimit-Reset` an exact Unix second, as Allo documents it, and
//! make `Retry-After` always 1 s, as in Allo's example. Time comes in as an argument, so the
//! caller's (possibly fake) clock decides when a window rolls over.

use std::time::Duration;

use http::Method;

/// Allo's documented reads per second per key (GET).
pub const READ_PER_SECOND: u32 = 20;
/// Allo's documented writes per second per key (POST, PUT, PATCH, DELETE).
pub const WRITE_PER_SECOND: u32 = 5;

/// Which budget a request draws on. Allo classifies by method alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Read,
    Write,
}

impl Class {
    pub(super) fn of(method: &Method) -> Class {
        // HEAD is a GET without a body; anything else (including unknown methods) is a write,
        // the stricter budget.
        if method == Method::GET || method == Method::HEAD {
            Class::Read
        } else {
            Class::Write
        }
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            Class::Read => "read",
            Class::Write => "write",
        }
    }
}

/// What the limiter decided for one request, and what goes in the `X-RateLimit-*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub limit: u32,
    pub remaining: u32,
    /// Unix second at which the current window ends.
    pub reset_unix: u64,
    /// `Some(seconds)` when the request is refused.
    pub retry_after: Option<u64>,
}

#[derive(Debug, Default)]
struct Window {
    second: u64,
    used: u32,
}

/// The two windows of one API key.
#[derive(Debug, Default)]
pub(crate) struct KeyLimits {
    read: Window,
    write: Window,
}

impl KeyLimits {
    /// Counts one request of `class` at `now` (time since the Unix epoch), unless the window
    /// is spent, in which case the request is refused and not counted.
    pub(super) fn check(&mut self, class: Class, now: Duration) -> Verdict {
        let (window, limit) = match class {
            Class::Read => (&mut self.read, READ_PER_SECOND),
            Class::Write => (&mut self.write, WRITE_PER_SECOND),
        };
        let second = now.as_secs();
        // The clock is monotonic, so a different second is always a later one.
        if window.second != second {
            window.second = second;
            window.used = 0;
        }
        let reset_unix = second.saturating_add(1);
        if window.used >= limit {
            // Time left in this window, rounded up to whole seconds and never 0.
            let left = Duration::from_secs(reset_unix).saturating_sub(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            return Verdict {
                limit,
                remaining: 0,
                reset_unix,
                retry_after: Some(secs.max(1)),
            };
        }
        window.used += 1;
        Verdict {
            limit,
            remaining: limit - window.used,
            reset_unix,
            retry_after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::from_secs(1_700_000_000);

    #[test]
    fn writes_allow_five_per_second_then_refuse() {
        let mut limits = KeyLimits::default();
        for expected_remaining in (0..5).rev() {
            let v = limits.check(Class::Write, T0);
            assert_eq!(v.retry_after, None);
            assert_eq!(v.remaining, expected_remaining);
            assert_eq!(v.limit, 5);
            assert_eq!(v.reset_unix, 1_700_000_001);
        }
        let refused = limits.check(Class::Write, T0 + Duration::from_millis(999));
        assert_eq!(refused.retry_after, Some(1));
        assert_eq!(refused.remaining, 0);
        // Reads have their own budget.
        assert_eq!(limits.check(Class::Read, T0).remaining, 19);
    }

    #[test]
    fn next_second_opens_a_new_window() {
        let mut limits = KeyLimits::default();
        for _ in 0..20 {
            assert!(limits.check(Class::Read, T0).retry_after.is_none());
        }
        assert!(limits.check(Class::Read, T0).retry_after.is_some());
        let later = limits.check(Class::Read, T0 + Duration::from_secs(1));
        assert_eq!(later.retry_after, None);
        assert_eq!(later.remaining, 19);
        assert_eq!(later.reset_unix, 1_700_000_002);
    }

    #[test]
    fn classification_is_by_method() {
        assert_eq!(Class::of(&Method::GET), Class::Read);
        assert_eq!(Class::of(&Method::DELETE), Class::Write);
        assert_eq!(Class::of(&Method::POST), Class::Write);
    }
}
