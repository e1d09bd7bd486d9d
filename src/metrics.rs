//! Metrics: what the pipeline reports about every request, exposed in Prometheus text format
//! on the admin listener. Label values come only from the config (caller, team and route ids;
//! unknown paths share one label), never from request input.

use std::time::Duration;

use crate::telemetry::AccessLog;

#[derive(Default)]
pub struct Metrics {}

/// Decrements the in-flight gauge when the request ends, however it ends.
pub struct InFlight<'a> {
    _metrics: &'a Metrics,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    pub fn request_started(&self) -> InFlight<'_> {
        InFlight { _metrics: self }
    }

    /// One finished request: its identity, outcome and timings.
    pub fn record(&self, log: &AccessLog, status: u16, error: Option<&'static str>, duration: Duration) {
        let _ = (log, status, error, duration);
    }

    /// The text exposition for `/metrics`.
    pub fn render(&self) -> String {
        String::new()
    }
}
