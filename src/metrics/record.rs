//! What one request leaves in the metrics: the in-flight gauge while it runs, then its series
//! (count and latencies, per worker) and, for a refusal, the family that names why.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::labels::*;
use super::series::Latency;
use super::{in_flight, Metrics};
use crate::error::Code;
use crate::ratelimit::Budget;
use crate::telemetry::AccessLog;

/// Decrements the in-flight gauge when the request ends, however it ends.
pub struct InFlight<'a> {
    shard: &'a in_flight::Shard,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shard.end();
    }
}

impl Metrics {
    pub fn request_started(&self) -> InFlight<'_> {
        InFlight {
            shard: self.in_flight.start(),
        }
    }

    /// One finished request: its identity, outcome and timings.
    pub fn record(&self, log: &AccessLog<'_>, status: u16, error: Option<Code>, duration: Duration) {
        let no_route = if log.caller.is_some() {
            UNKNOWN_ROUTE_TEXT
        } else {
            NONE_TEXT
        };
        let key = RequestKey {
            caller: log.caller.map_or(NONE_TEXT, |id| &**id),
            team: log.team.map_or(NONE_TEXT, |id| &**id),
            route: log.route.map_or(no_route, |id| &**id),
            status,
        };
        // Owned labels take reference counts on the ids: only for a new series or an error's.
        let labels = || RequestLabels {
            caller: Label::or(log.caller, NONE_TEXT),
            team: Label::or(log.team, NONE_TEXT),
            route: Label::or(log.route, no_route),
            status,
        };
        self.series.with(key, labels, |series| {
            series.requests.fetch_add(1, Ordering::Relaxed);
            series.duration.observe(duration.as_secs_f64());
            if let Some(upstream) = log.upstream_duration {
                series
                    .upstream
                    .get_or_init(Latency::default)
                    .observe(upstream.as_secs_f64());
            }
        });
        let Some(code) = error else { return };
        let RequestLabels {
            caller, team, route, ..
        } = labels();
        match code {
            Code::RateLimitExceeded => {
                let budget = log.rate_limited.map_or("unknown", Budget::as_str);
                self.rate_limited
                    .get_or_create(&RateLimitLabels { budget, caller, team })
                    .inc();
            }
            Code::InvalidRequestBody
            | Code::InvalidQueryParameter
            | Code::InvalidRequestHeader
            | Code::PayloadTooLarge
            | Code::UnsupportedMediaType
            | Code::RequestTimeout => {
                self.validation_refusals
                    .get_or_create(&ValidationLabels {
                        route,
                        code: code.as_str(),
                    })
                    .inc();
            }
            Code::UpstreamUnavailable | Code::UpstreamTimeout => {
                let kind = if code == Code::UpstreamTimeout {
                    "timeout"
                } else {
                    "unavailable"
                };
                self.upstream_errors
                    .get_or_create(&UpstreamErrorLabels { team, kind })
                    .inc();
            }
            // Counted by `requests_total` (status and route) only: no family of their own.
            Code::MalformedRequest
            | Code::RequestHeaderFieldsTooLarge
            | Code::GatewayUnauthenticated
            | Code::ApiKeyInsufficientScope
            | Code::EndpointNotFound
            | Code::MethodNotAllowed
            | Code::RateLimitUnavailable
            | Code::ShuttingDown => {}
        }
    }
}
