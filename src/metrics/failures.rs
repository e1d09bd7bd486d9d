//! Upstream failures by kind: `allo_gateway_upstream_failures_total{kind}`, and the warn line
//! that says why, at most once a minute per upstream and kind so that an upstream that is
//! down does not write a line per request. The line names the upstream, the kind and the
//! error's chain (rustls's reason for a refused certificate, the socket error, the HTTP/2
//! error code), which never holds a request's header or the team key.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::upstream::{FailureKind, UpstreamError};

/// How often one kind of failure of one upstream is logged.
const LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct KindLabels {
    pub kind: &'static str,
}

#[derive(Default)]
pub(super) struct UpstreamFailures {
    pub(super) counts: Family<KindLabels, Counter>,
    /// When each (upstream, kind) was last logged. Upstreams come from the config only.
    logged: Mutex<HashMap<(String, FailureKind), Instant>>,
}

impl UpstreamFailures {
    pub(super) fn new() -> UpstreamFailures {
        let failures = UpstreamFailures::default();
        // Every kind from the start, so that `increase()` sees the first failure of each.
        for kind in FailureKind::ALL {
            let _ = failures.counts.get_or_create(&KindLabels { kind: kind.as_str() });
        }
        failures
    }

    /// Counts one failure of `upstream`, and logs it unless its kind was logged for this
    /// upstream less than a minute before `now`.
    pub(super) fn record(&self, upstream: &str, error: &UpstreamError, now: Instant) {
        let kind = error.kind();
        self.counts.get_or_create(&KindLabels { kind: kind.as_str() }).inc();
        if self.due(upstream, kind, now) {
            tracing::warn!(
                upstream,
                kind = kind.as_str(),
                error = %crate::telemetry::error_chain(error),
                "upstream request failed (logged at most once a minute per upstream and kind)"
            );
        }
    }

    fn due(&self, upstream: &str, kind: FailureKind, now: Instant) -> bool {
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        match logged.get_mut(&(upstream.to_owned(), kind)) {
            Some(last) if now.saturating_duration_since(*last) < LOG_EVERY => false,
            Some(last) => {
                *last = now;
                true
            }
            None => {
                logged.insert((upstream.to_owned(), kind), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(failures: &UpstreamFailures, kind: &'static str) -> u64 {
        failures.counts.get_or_create(&KindLabels { kind }).get()
    }

    #[test]
    fn each_failure_counts_and_each_kind_logs_once_a_minute_per_upstream() {
        let failures = UpstreamFailures::new();
        let t0 = Instant::now();
        let timeout = UpstreamError::Timeout(Duration::from_secs(1));
        assert!(failures.due("https://a", FailureKind::Timeout, t0));
        assert!(!failures.due("https://a", FailureKind::Timeout, t0 + Duration::from_secs(59)));
        assert!(failures.due("https://a", FailureKind::Tls, t0 + Duration::from_secs(1)));
        assert!(failures.due("https://b", FailureKind::Timeout, t0 + Duration::from_secs(1)));
        assert!(failures.due("https://a", FailureKind::Timeout, t0 + Duration::from_secs(60)));

        failures.record("https://c", &timeout, t0);
        failures.record("https://c", &timeout, t0);
        assert_eq!(count(&failures, "timeout"), 2);
        assert_eq!(count(&failures, "tls"), 0);
    }
}
