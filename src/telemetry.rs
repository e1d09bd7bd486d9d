//! Logging: the tracing subscriber (JSON or pretty, filtered by `ALLO_GATEWAY_LOG`) and the
//! access-log event, one per request, with the fields an operator greps for. Nothing here ever
//! receives a header value, a body or a secret; only ids, names, statuses and durations.
//! Lines are written to stdout off the request path (`sink.rs`).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
pub use crate::error_chain::error_chain;

mod json;
mod sink;

pub const LOG_ENV: &str = "ALLO_GATEWAY_LOG";

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(format: Option<LogFormat>) {
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    // Colour codes are for a person at a terminal; in a file or a log collector they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(sink::sink());
    let _ = match format {
        LogFormat::Json => builder.event_format(json::JsonLine).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Writes out every log line accepted so far (waiting at most `limit`); for the end of the
/// process, since lines are written by a background thread.
pub fn flush(limit: Duration) {
    sink::sink().flush(limit);
}

/// What one request did, logged once when it ends. Nothing in it is copied per request: the
/// request id is borrowed from the header value the response carries, and the ids from the
/// state the request runs on (not cloned: their reference counts are shared by every worker;
/// only a metric series made for them, or an error family's sample, takes a count).
#[derive(Debug, Default)]
pub struct AccessLog<'a> {
    pub request_id: &'a str,
    pub caller: Option<&'a Arc<str>>,
    pub team: Option<&'a Arc<str>>,
    pub route: Option<&'a Arc<str>>,
    pub upstream_status: Option<u16>,
    pub upstream_duration: Option<Duration>,
    /// The budget that refused the request with RATE_LIMIT_EXCEEDED (for metrics).
    pub rate_limited: Option<crate::ratelimit::Budget>,
    /// What validation found in a request forwarded anyway (`validation = "report"`).
    pub reported: Option<String>,
}

impl AccessLog<'_> {
    pub fn emit(&self, method: &http::Method, status: u16, error: Option<&str>, duration: Duration) {
        tracing::info!(
            target: "access",
            request_id = %self.request_id,
            caller = self.caller.map_or("-", |id| &**id),
            team = self.team.map_or("-", |id| &**id),
            route = self.route.map_or("-", |id| &**id),
            method = %method,
            status,
            upstream_status = self.upstream_status,
            upstream_ms = self.upstream_duration.map(millis),
            duration_ms = millis(duration),
            error,
            validation = self.reported.as_deref(),
        );
    }
}

/// Milliseconds to the microsecond (at most 3 decimals): `0.416`, not `0.41586999999999996`.
fn millis(duration: Duration) -> f64 {
    // Whole microseconds are exact in an f64; dividing by 1000 gives the double nearest the
    // decimal, which prints as the short decimal.
    let micros = (duration.as_nanos() + 500) / 1000;
    micros as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_with_at_most_three_decimals() {
        assert_eq!(millis(Duration::from_nanos(415_869_999)).to_string(), "415.87");
        assert_eq!(millis(Duration::from_nanos(415_870)).to_string(), "0.416");
        assert_eq!(millis(Duration::from_nanos(415_499)).to_string(), "0.415");
        assert_eq!(millis(Duration::from_secs(2)).to_string(), "2000");
        assert_eq!(millis(Duration::ZERO).to_string(), "0");
        for nanos in (0..5_000_000u64).step_by(7_919) {
            let text = millis(Duration::from_nanos(nanos)).to_string();
            let decimals = text.split('.').nth(1).map_or(0, str::len);
            assert!(decimals <= 3, "{nanos} ns printed as {text}");
        }
    }
}
