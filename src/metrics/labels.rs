//! The label sets of the gateway's metrics. Values are configured ids, shared with the config
//! (a reference count taken when a series is made, never to find one), or fixed placeholders
//! and names: never request input.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

/// Label for a request that was not authenticated (or not routed).
pub(super) const NONE_TEXT: &str = "-";
/// Route label for an authenticated request whose path is not an Allo endpoint.
pub(super) const UNKNOWN_ROUTE_TEXT: &str = "unknown";

/// A label value: a configured id, shared with the config, or a placeholder. Compared and
/// hashed by its text, so a placeholder and an id of the same spelling are one series, as
/// they were when labels were strings.
#[derive(Clone, Debug)]
pub(super) enum Label {
    Fixed(&'static str),
    Id(Arc<str>),
}

impl Label {
    pub(super) fn as_str(&self) -> &str {
        match self {
            Label::Fixed(text) => text,
            Label::Id(id) => id,
        }
    }

    /// The id, shared with the config, or `otherwise` when the request did not get that far.
    pub(super) fn or(id: Option<&Arc<str>>, otherwise: &'static str) -> Label {
        id.map_or(Label::Fixed(otherwise), |id| Label::Id(id.clone()))
    }
}

impl PartialEq for Label {
    fn eq(&self, other: &Label) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Label {}

impl Hash for Label {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Label {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RequestLabels {
    pub caller: Label,
    pub team: Label,
    pub route: Label,
    pub status: u16,
}

/// `RequestLabels` as borrowed text: what a request's series is found by, so that finding it
/// copies nothing and changes no reference count.
#[derive(Debug, Clone, Copy)]
pub(super) struct RequestKey<'a> {
    pub caller: &'a str,
    pub team: &'a str,
    pub route: &'a str,
    pub status: u16,
}

/// What `RequestLabels` and `RequestKey` are both compared and hashed by, field by field as
/// `RequestLabels` derives it, so a map keyed by the one is searched with the other.
pub(super) trait RequestText {
    fn text(&self) -> RequestKey<'_>;
}

impl RequestText for RequestLabels {
    fn text(&self) -> RequestKey<'_> {
        RequestKey {
            caller: self.caller.as_str(),
            team: self.team.as_str(),
            route: self.route.as_str(),
            status: self.status,
        }
    }
}

impl RequestText for RequestKey<'_> {
    fn text(&self) -> RequestKey<'_> {
        *self
    }
}

impl<'a> std::borrow::Borrow<dyn RequestText + 'a> for RequestLabels {
    fn borrow(&self) -> &(dyn RequestText + 'a) {
        self
    }
}

impl PartialEq for dyn RequestText + '_ {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.text(), other.text());
        (a.caller, a.team, a.route, a.status) == (b.caller, b.team, b.route, b.status)
    }
}

impl Eq for dyn RequestText + '_ {}

impl Hash for dyn RequestText + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let key = self.text();
        key.caller.hash(state);
        key.team.hash(state);
        key.route.hash(state);
        key.status.hash(state);
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RouteLabels {
    pub route: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RateLimitLabels {
    pub budget: &'static str,
    pub caller: Label,
    pub team: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ValidationLabels {
    pub route: Label,
    pub code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ReportedLabels {
    pub route: Label,
    pub caller: Label,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct DriftLabels {
    pub route: Label,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct UpstreamErrorLabels {
    pub team: Label,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct KeySwitchLabels {
    pub team: String,
    pub to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct TeamLabels {
    pub team: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct WorkerLabels {
    pub worker: u64,
}
