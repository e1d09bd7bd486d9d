//! The request series: `requests_total{caller,team,route,status}`,
//! `request_duration_seconds{route}` and `upstream_duration_seconds{route}`. Every request
//! feeds them, so each worker (`server::workers`) counts into series of its own, found in its
//! own cache, and a scrape sums them. Shared series would put every request of every worker
//! on the same counters and behind the same histogram lock. The caches sit on cache lines of
//! their own (`PerWorker`): taking a read lock writes the lock's word, and on a line it shared
//! with a neighbour's lock and map, each request would pull the line from the other core.
//!
//! The cache's keys are configured ids and fixed placeholders, never request input, so a fast
//! hash without flooding resistance is safe here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::labels::{Label, RequestKey, RequestLabels, RequestText, RouteLabels};
use super::LATENCY_BUCKETS;
use crate::worker::PerWorker;

const BUCKETS: usize = LATENCY_BUCKETS.len() + 1;

/// A latency histogram written by one worker: plain atomics, no lock.
#[derive(Default)]
pub(super) struct Latency {
    /// Per bucket (not cumulative), the last one for values above every bound.
    buckets: [AtomicU64; BUCKETS],
    sum_bits: AtomicU64,
    count: AtomicU64,
}

impl Latency {
    pub(super) fn observe(&self, seconds: f64) {
        // The first bound at or above `seconds` (the bounds are sorted); past the last, the
        // overflow bucket.
        let bucket = LATENCY_BUCKETS.partition_point(|bound| *bound < seconds);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        // One writer in practice (the worker); a loop all the same, so none is lost.
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + seconds).to_bits())
            });
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one kind of request feeds, in one worker.
#[derive(Default)]
pub(super) struct Series {
    pub(super) requests: AtomicU64,
    pub(super) duration: Latency,
    /// Made by the first such request that reached the upstream: a route whose requests never
    /// did shows no upstream series.
    pub(super) upstream: OnceLock<Latency>,
}

type Cache = HashMap<RequestLabels, Series, foldhash::fast::RandomState>;

/// Every worker's series; a thread that is not a worker's uses the first worker's.
#[derive(Clone)]
pub(super) struct WorkerSeries(Arc<PerWorker<RwLock<Cache>>>);

impl WorkerSeries {
    pub(super) fn new() -> WorkerSeries {
        WorkerSeries::with_workers(crate::worker::count())
    }

    fn with_workers(workers: usize) -> WorkerSeries {
        WorkerSeries(Arc::new(PerWorker::with_workers(workers, RwLock::default)))
    }

    /// Runs `f` on this worker's series of `key`, made on first use.
    /// `labels` makes the key's owned form, for a series not made yet.
    pub(super) fn with(&self, key: RequestKey<'_>, labels: impl FnOnce() -> RequestLabels, f: impl FnOnce(&Series)) {
        let cache = self.0.current();
        let text: &dyn RequestText = &key;
        if let Some(series) = cache.read().unwrap_or_else(PoisonError::into_inner).get(text) {
            return f(series);
        }
        let mut cache = cache.write().unwrap_or_else(PoisonError::into_inner);
        f(cache.entry(labels()).or_default());
    }
}

/// One histogram summed over workers, as the encoder takes it.
struct Summed {
    buckets: [u64; BUCKETS],
    sum: f64,
    count: u64,
}

impl Summed {
    fn new() -> Summed {
        Summed {
            buckets: [0; BUCKETS],
            sum: 0.0,
            count: 0,
        }
    }

    fn add(&mut self, latency: &Latency) {
        for (total, bucket) in self.buckets.iter_mut().zip(&latency.buckets) {
            *total += bucket.load(Ordering::Relaxed);
        }
        self.sum += f64::from_bits(latency.sum_bits.load(Ordering::Relaxed));
        self.count += latency.count.load(Ordering::Relaxed);
    }

    fn encode(&self, encoder: &mut prometheus_client::encoding::MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let bounds = LATENCY_BUCKETS.iter().copied().chain(std::iter::once(f64::MAX));
        let buckets: Vec<(f64, u64)> = bounds.zip(self.buckets.iter().copied()).collect();
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &buckets, None)
    }
}

impl std::fmt::Debug for WorkerSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WorkerSeries({} workers)", self.0.workers())
    }
}

impl Collector for WorkerSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut requests: HashMap<RequestLabels, u64> = HashMap::new();
        let mut durations: HashMap<Label, Summed> = HashMap::new();
        let mut upstreams: HashMap<Label, Summed> = HashMap::new();
        for cache in self.0.iter() {
            let cache = cache.read().unwrap_or_else(PoisonError::into_inner);
            for (key, series) in cache.iter() {
                *requests.entry(key.clone()).or_default() += series.requests.load(Ordering::Relaxed);
                durations
                    .entry(key.route.clone())
                    .or_insert_with(Summed::new)
                    .add(&series.duration);
                if let Some(upstream) = series.upstream.get() {
                    upstreams
                        .entry(key.route.clone())
                        .or_insert_with(Summed::new)
                        .add(upstream);
                }
            }
        }
        let mut metric = encoder.encode_descriptor(
            "requests",
            "Requests answered, by caller, team, route id and HTTP status",
            None,
            MetricType::Counter,
        )?;
        for (labels, count) in &requests {
            metric
                .encode_family(labels)?
                .encode_counter::<NoLabelSet, _, u64>(count, None)?;
        }
        let histograms = [
            (
                "request_duration_seconds",
                "Time from request received to response head sent, by route id",
                durations,
            ),
            (
                "upstream_duration_seconds",
                "Time from forwarding to the upstream's response head, by route id",
                upstreams,
            ),
        ];
        for (name, help, summed) in histograms {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
            for (route, histogram) in &summed {
                let labels = RouteLabels { route: route.clone() };
                histogram.encode(&mut metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(status: u16) -> RequestLabels {
        RequestLabels {
            caller: Label::Id(Arc::from("crm")),
            team: Label::Id(Arc::from("sales")),
            route: Label::Id(Arc::from("users.list")),
            status,
        }
    }

    fn record(series: &WorkerSeries, status: u16, seconds: f64, upstream: bool) {
        let labels = key(status);
        series.with(
            labels.text(),
            || labels.clone(),
            |s| {
                s.requests.fetch_add(1, Ordering::Relaxed);
                s.duration.observe(seconds);
                if upstream {
                    s.upstream.get_or_init(Latency::default).observe(seconds);
                }
            },
        );
    }

    #[test]
    fn a_series_made_from_its_labels_is_found_by_their_borrowed_text() {
        let series = WorkerSeries::with_workers(1);
        record(&series, 200, 0.001, false);
        let cache = series.0.current().read().unwrap();
        let same = RequestKey {
            caller: "crm",
            team: "sales",
            route: "users.list",
            status: 200,
        };
        let found: &dyn RequestText = &same;
        assert!(cache.get(found).is_some(), "hashed or compared apart from its labels");
        let other = RequestKey { status: 201, ..same };
        let missing: &dyn RequestText = &other;
        assert!(cache.get(missing).is_none());
    }

    #[test]
    fn each_worker_counts_apart_and_a_scrape_sums_them() {
        let series = WorkerSeries::with_workers(2);
        record(&series, 200, 0.004, true);
        record(&series, 200, 0.004, true);
        let other = series.clone();
        std::thread::spawn(move || {
            crate::worker::set_current(1);
            record(&other, 200, 20.0, false);
            record(&other, 429, 0.0005, false);
        })
        .join()
        .unwrap();
        // Apart: the second worker's cache has its own series.
        for (worker, expected) in [(0, 2), (1, 1)] {
            let cache = series.0.iter().nth(worker).unwrap().read().unwrap();
            assert_eq!(cache[&key(200)].requests.load(Ordering::Relaxed), expected);
        }

        let mut registry = prometheus_client::registry::Registry::with_prefix("allo_gateway");
        registry.register_collector(Box::new(series));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let labels = r#"caller="crm",team="sales",route="users.list""#;
        assert!(
            text.contains(&format!("allo_gateway_requests_total{{{labels},status=\"200\"}} 3\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("allo_gateway_requests_total{{{labels},status=\"429\"}} 1\n")),
            "{text}"
        );
        let route = r#"route="users.list""#;
        assert!(
            text.contains(&format!("allo_gateway_request_duration_seconds_count{{{route}}} 4\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "allo_gateway_request_duration_seconds_bucket{{le=\"0.001\",{route}}} 1\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "allo_gateway_request_duration_seconds_bucket{{le=\"0.005\",{route}}} 3\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "allo_gateway_request_duration_seconds_bucket{{le=\"+Inf\",{route}}} 4\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("allo_gateway_upstream_duration_seconds_count{{{route}}} 2\n")),
            "{text}"
        );
    }
}
