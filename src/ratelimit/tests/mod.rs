//! Unit tests of the rate-limit decisions, on a `ManualLimiterClock`: time moves only when a test
//! says so, and wait-mode tests let the spawned waiters run by yielding, never by sleeping.
//! (`redis` points at a closed port: Redis calls fail in real time, within their timeout.)

mod budgets;
mod redis;
mod reload;
mod upstream;
mod wait;

use std::path::Path;
use std::time::Duration;

use super::{ManualLimiterClock, RateLimits};
use crate::config::Config;

/// `[ratelimit]` from `ratelimit`; team "sales" (write 5/s, read 20/s, then `team_overrides`),
/// team "support" (defaults); callers "a" and "b" of sales at 10/s, "free" of sales without a
/// rate, "helpdesk" of support.
pub(super) fn config(ratelimit: &str, team_overrides: &str) -> Config {
    let text = format!(
        r#"
[ratelimit]
{ratelimit}

[[teams]]
id = "sales"
api_key = {{ value = "ak_sales" }}
write_per_second = 5
{team_overrides}

[[teams]]
id = "support"
api_key = {{ value = "ak_support" }}

[[callers]]
id = "a"
team = "sales"
token_sha256 = "{:064x}"
rate = {{ per_second = 10, burst = 10 }}

[[callers]]
id = "b"
team = "sales"
token_sha256 = "{:064x}"
rate = {{ per_second = 10, burst = 10 }}

[[callers]]
id = "free"
team = "sales"
token_sha256 = "{:064x}"

[[callers]]
id = "helpdesk"
team = "support"
token_sha256 = "{:064x}"
"#,
        1, 2, 3, 4
    );
    crate::config::from_str(&text, Path::new(".")).unwrap_or_else(|e| panic!("{:?}", e.problems))
}

pub(super) fn limits(ratelimit: &str) -> (ManualLimiterClock, RateLimits<ManualLimiterClock>) {
    let clock = ManualLimiterClock::default();
    (clock.clone(), RateLimits::with_clock(&config(ratelimit, ""), clock))
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
        .collect()
}
