//! The metrics of Allo's API as data: requests forwarded despite validation findings
//! (`validation = "report"`) and answers that show Allo has moved away from the description in
//! force (`spec_drift`), with the once-a-minute gate on drift's warn line.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use super::labels::{DriftLabels, Label, ReportedLabels};
use super::Metrics;

/// How traffic disagrees with the API description (`allo_gateway_spec_drift_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftKind {
    /// Allo refused, as invalid, a request the gateway had validated.
    RefusedValid,
    /// Allo answered 405, or 404 without its error envelope, for a route in the table.
    RouteGone,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::RefusedValid => "refused_valid",
            DriftKind::RouteGone => "route_gone",
        }
    }
}

/// How often one route's drift is logged.
const DRIFT_LOG_EVERY: Duration = Duration::from_secs(60);

impl Metrics {
    /// A request that failed validation and was forwarded in `report` mode.
    pub fn validation_reported(&self, route: &Arc<str>, caller: &Arc<str>) {
        self.validation_reported
            .get_or_create(&ReportedLabels {
                route: Label::Id(route.clone()),
                caller: Label::Id(caller.clone()),
            })
            .inc();
    }

    /// Counts one answer showing drift; true when it should also be logged (the first for
    /// its route in a minute).
    pub fn spec_drift(&self, route: &Arc<str>, kind: DriftKind) -> bool {
        self.spec_drift
            .get_or_create(&DriftLabels {
                route: Label::Id(route.clone()),
                kind: kind.as_str(),
            })
            .inc();
        let now = Instant::now();
        let mut logged = self.drift_logged.lock().unwrap_or_else(PoisonError::into_inner);
        match logged.get(route) {
            Some(last) if now.duration_since(*last) < DRIFT_LOG_EVERY => false,
            _ => {
                logged.insert(route.clone(), now);
                true
            }
        }
    }
}
