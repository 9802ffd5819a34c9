//! The worker's Prometheus metrics (served by `fleet::ops`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Kind {
    pub(crate) kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindOutcome {
    pub(crate) kind: &'static str,
    /// `succeeded` (a result was published, whatever it says), `failed` (a failure result
    /// was published), `retried` (to run again later), `handed_back` (to another worker: this
    /// one's store unreachable) or `taken_over` (another worker held the job by its end).
    pub(crate) outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CacheLookup {
    /// `hit` (the decoded model was kept) or `miss` (downloaded and decoded).
    pub(crate) result: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Job durations from 10 ms to about 45 minutes.
fn job_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 3.0, 14))
}

#[derive(Debug)]
pub(crate) struct WorkerMetrics {
    pub(crate) started: Family<Kind, Counter>,
    pub(crate) finished: Family<KindOutcome, Counter>,
    pub(crate) duration: HistogramFamily<Kind>,
    pub(crate) in_flight: Gauge,
    pub(crate) queue_depth: Gauge,
    pub(crate) upload_bytes: Counter,
    pub(crate) upload_seconds: Histogram,
    pub(crate) model_cache: Family<CacheLookup, Counter>,
    pub(crate) paused: Gauge,
}

impl WorkerMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            started: Family::default(),
            finished: Family::default(),
            duration: Family::new_with_constructor(job_duration_histogram),
            in_flight: Gauge::default(),
            queue_depth: Gauge::default(),
            upload_bytes: Counter::default(),
            upload_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            model_cache: Family::default(),
            paused: Gauge::default(),
        };
        let registry = registry.sub_registry_with_prefix("boltfleet");
        registry.register("jobs_started", "Jobs this worker started, by kind", metrics.started.clone());
        registry.register(
            "jobs_finished",
            "Jobs this worker finished, by kind and outcome",
            metrics.finished.clone(),
        );
        registry.register("job_duration_seconds", "Job durations, by kind", metrics.duration.clone());
        registry.register("jobs_in_flight", "Jobs running in this worker now", metrics.in_flight.clone());
        registry.register(
            "queue_depth",
            "Jobs waiting in the queue (all workers')",
            metrics.queue_depth.clone(),
        );
        registry.register("artifact_upload_bytes", "Bytes of models uploaded", metrics.upload_bytes.clone());
        registry.register("artifact_upload_seconds", "Model upload latency", metrics.upload_seconds.clone());
        registry.register(
            "model_cache_lookups",
            "Forecasts' model lookups in the worker's cache, by result",
            metrics.model_cache.clone(),
        );
        registry.register(
            "worker_paused",
            "1 while this worker takes no job because it cannot reach its artifact store",
            metrics.paused.clone(),
        );
        metrics
    }
}
