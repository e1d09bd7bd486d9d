//! Reading Allo's own rate-limit signals from a response's headers: how long Allo asks the
//! key to wait. Pure functions of the status, the headers and the Unix time.

use std::time::Duration;

use http::{HeaderName, StatusCode};

use crate::answer::Fields;

const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The longest hold any header can cause, so a bogus value cannot block a team for a day.
pub const MAX_HOLD: Duration = Duration::from_secs(60);
/// Allo's budgets are per second: a 429 that names no wait holds the team for one window.
const DEFAULT_HOLD: Duration = Duration::from_secs(1);

/// What one upstream answer says about the key's budget. Durations are capped at `MAX_HOLD`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Signal {
    /// A 429 about the per-second budget: how long Allo asks the key to wait (`Retry-After`,
    /// else until `X-RateLimit-Reset`, else one second).
    pub throttled: Option<Duration>,
    /// `X-RateLimit-Remaining: 0`: how long until `X-RateLimit-Reset`.
    pub spent: Option<Duration>,
    /// A header asked for more than `MAX_HOLD`.
    pub capped: bool,
}

/// Whether the answer can hold a signal at all: a 429, or a remaining count (a spent budget
/// is only read from `X-RateLimit-Remaining: 0`).
pub(super) fn may_signal(status: StatusCode, headers: &impl Fields) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || headers.field(&REMAINING).is_some()
}

pub(super) fn read(status: StatusCode, headers: &impl Fields, unix_now: Duration) -> Signal {
    let remaining = number(headers, &REMAINING);
    let until_reset = number(headers, &RESET)
        .map(|reset| Duration::from_secs(reset).saturating_sub(unix_now))
        .filter(|d| !d.is_zero());
    let spent = if remaining == Some(0) { until_reset } else { None };
    // A 429 that still reports budget left is not about the per-second budget (Allo also
    // answers 429 for SMS quotas): it holds nothing.
    let throttled = if status == StatusCode::TOO_MANY_REQUESTS && remaining.is_none_or(|r| r == 0) {
        match number(headers, &http::header::RETRY_AFTER) {
            Some(seconds) => Some(Duration::from_secs(seconds)).filter(|d| !d.is_zero()),
            None => Some(until_reset.unwrap_or(DEFAULT_HOLD)),
        }
    } else {
        None
    };
    let capped = throttled.max(spent).is_some_and(|d| d > MAX_HOLD);
    let cap = |d: Option<Duration>| d.map(|d| d.min(MAX_HOLD));
    Signal {
        throttled: cap(throttled),
        spent: cap(spent),
        capped,
    }
}

/// A header holding a non-negative integer. Too many digits saturate (and are then capped);
/// anything else (an HTTP-date `Retry-After`, a fraction) is not read.
fn number(headers: &impl Fields, name: &HeaderName) -> Option<u64> {
    let text = headers.field(name)?.trim_ascii();
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(crate::http1::parse_length(text).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;

    const NOW: Duration = Duration::from_millis(1_700_000_000_250);

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    fn read_with(status: u16, pairs: &[(&'static str, &str)]) -> Signal {
        read(StatusCode::from_u16(status).unwrap(), &headers(pairs), NOW)
    }

    #[test]
    fn retry_after_on_a_429() {
        assert_eq!(
            read_with(429, &[("retry-after", "2")]).throttled,
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            read_with(429, &[("retry-after", " 3 ")]).throttled,
            Some(Duration::from_secs(3))
        );
        assert_eq!(read_with(429, &[("retry-after", "0")]).throttled, None);
        assert_eq!(read_with(200, &[("retry-after", "2")]).throttled, None);
        assert_eq!(read_with(503, &[("retry-after", "2")]), Signal::default());
    }

    #[test]
    fn a_429_without_retry_after_holds_until_reset_or_one_second() {
        let reset = [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1700000001")];
        assert_eq!(read_with(429, &reset).throttled, Some(Duration::from_millis(750)));
        assert_eq!(read_with(429, &[]).throttled, Some(Duration::from_secs(1)));
        assert_eq!(
            read_with(429, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]).throttled,
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_429_with_budget_left_is_a_quota_not_a_rate() {
        let quota = [
            ("retry-after", "3600"),
            ("x-ratelimit-remaining", "4"),
            ("x-ratelimit-reset", "1700000001"),
        ];
        assert_eq!(read_with(429, &quota), Signal::default());
    }

    #[test]
    fn remaining_zero_holds_until_reset() {
        let spent = read_with(
            200,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1700000003")],
        );
        assert_eq!(
            spent,
            Signal {
                throttled: None,
                spent: Some(Duration::from_millis(2750)),
                capped: false
            }
        );
        assert_eq!(
            read_with(
                200,
                &[("x-ratelimit-remaining", "1"), ("x-ratelimit-reset", "1700000003")]
            ),
            Signal::default()
        );
        assert_eq!(read_with(200, &[("x-ratelimit-remaining", "0")]), Signal::default());
        // A reset in the past holds nothing.
        assert_eq!(
            read_with(
                200,
                &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1699999999")]
            ),
            Signal::default()
        );
    }

    #[test]
    fn absurd_values_are_capped() {
        let day = read_with(429, &[("retry-after", "86400")]);
        assert_eq!(
            day,
            Signal {
                throttled: Some(MAX_HOLD),
                spent: None,
                capped: true
            }
        );
        let huge = read_with(429, &[("retry-after", "99999999999999999999999999")]);
        assert_eq!(huge.throttled, Some(MAX_HOLD));
        let far = read_with(
            200,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "99999999999")],
        );
        assert_eq!(
            far,
            Signal {
                throttled: None,
                spent: Some(MAX_HOLD),
                capped: true
            }
        );
        assert_eq!(
            read_with(429, &[("retry-after", "-5")]).throttled,
            Some(Duration::from_secs(1))
        );
    }
}
