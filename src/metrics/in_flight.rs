//! `allo_gateway_in_flight_requests`, counted per worker (`server::workers`) and summed at
//! scrape time: every request changes the count twice, and one shared counter would bounce its
//! cache line between the worker threads on each of those changes.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::worker::PerWorker;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

/// One worker's count.
#[derive(Default)]
pub(super) struct Shard(AtomicI64);

/// The counts of every worker, each on cache lines of its own.
#[derive(Clone)]
pub(super) struct InFlightShards(Arc<PerWorker<Shard>>);

impl InFlightShards {
    pub(super) fn new() -> InFlightShards {
        InFlightShards(Arc::new(PerWorker::new(Shard::default)))
    }

    /// The current worker's count (the first worker's on any other thread), one up.
    pub(super) fn start(&self) -> &Shard {
        let shard = self.0.current();
        shard.0.fetch_add(1, Ordering::Relaxed);
        shard
    }

    fn total(&self) -> i64 {
        self.0.iter().map(|shard| shard.0.load(Ordering::Relaxed)).sum()
    }
}

impl Shard {
    pub(super) fn end(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for InFlightShards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InFlightShards({})", self.total())
    }
}

impl Collector for InFlightShards {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(self.total());
        let metric =
            encoder.encode_descriptor("in_flight_requests", "Requests being served", None, gauge.metric_type())?;
        gauge.encode(metric)
    }
}
