//! The collector's Prometheus metrics (served by `fleet::ops`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TableLabel {
    pub(crate) table: &'static str,
}

#[derive(Debug)]
pub(crate) struct CollectorMetrics {
    pub(crate) written: Family<TableLabel, Counter>,
    pub(crate) write_seconds: Histogram,
    pub(crate) dead_lettered: Counter,
    pub(crate) backlog: Gauge,
}

impl CollectorMetrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            written: Family::default(),
            // One transaction of up to a batch of rows: 1 ms to about 16 s.
            write_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            dead_lettered: Counter::default(),
            backlog: Gauge::default(),
        };
        let registry = registry.sub_registry_with_prefix("boltfleet");
        registry.register("results_written", "Result rows written, by table", metrics.written.clone());
        registry.register(
            "collector_write_seconds",
            "Latency of one batch's transaction",
            metrics.write_seconds.clone(),
        );
        registry.register(
            "results_dead_lettered",
            "Results sent to the dead letters",
            metrics.dead_lettered.clone(),
        );
        registry.register(
            "results_backlog",
            "Results on the stream not yet written",
            metrics.backlog.clone(),
        );
        metrics
    }
}
