//! Features + labels on 20,000 real hourly bars (BTCUSD), the issue's target: under 20 ms on
//! one core; then a forecast run's case, the features of 100 series of 500 bars one at a time
//! and all at once (`compute_many`). Run by hand, results in docs/benchmarks.md:
//!
//! ```sh
//! POLARS_MAX_THREADS=1 taskset -c 0 cargo bench -p ml-core --bench features
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use ml_core::Bar;
use ml_core::ingest::{IngestOptions, ingest_file};
use ml_core::labels::{LabelConfig, append_labels};

const RUNS: usize = 20;

fn main() {
    let data = std::env::var_os("BOLTFLEET_DATA")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), Into::into);
    let ingested =
        ingest_file(&data.join("BTCUSD-1h-coinbase.csv"), &IngestOptions::default()).expect("ingests");
    let series = &ingested.series[0];
    // `BENCH_BARS` measures other sizes (the fixed per-call cost shows at small ones).
    let count: usize = std::env::var("BENCH_BARS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let bars = &series.bars[..count];
    let labels = LabelConfig::for_timeframe(series.timeframe);

    let run = || {
        let frame = ml_core::features::compute(bars).expect("features");
        append_labels(frame, &labels).expect("labels")
    };
    let width = run().width();
    report(&format!("features + labels, {count} bars x {width} columns"), run);

    // 100 windows of 500 bars, as a forecast run's snapshot file holds them.
    let windows: Vec<&[Bar]> = (0..100).map(|i| &series.bars[i * 100..i * 100 + 500]).collect();
    report("features of 100 series x 500 bars, one at a time", || {
        windows.iter().map(|bars| ml_core::features::compute(bars).expect("features").height()).sum::<usize>()
    });
    report("features of 100 series x 500 bars, at once", || {
        ml_core::features::compute_many(&windows).expect("features").height()
    });
}

fn report<T>(what: &str, run: impl Fn() -> T) {
    std::hint::black_box(run());
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(run());
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{what}, {RUNS} runs: min {:.2} ms, median {:.2} ms, max {:.2} ms",
        times[0].as_secs_f64() * 1e3,
        times[RUNS / 2].as_secs_f64() * 1e3,
        times[RUNS - 1].as_secs_f64() * 1e3,
    );
}
