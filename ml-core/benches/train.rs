//! One whole training job (features → labels → split → RF → GB → weights → artifact bytes) on
//! 500, 5,000 and 20,000 real hourly bars (BTCUSD), and the RF and GB fits alone on the 5,000-bar
//! training matrix, which it also writes as CSV for `scripts/sklearn_bench.py` to fit the same
//! matrix with scikit-learn; then a forecast job's compute on one core, decoding the 5,000-bar
//! job's artifact and predicting from 500 bars (a forecast job's default), apart. Run by hand;
//! results in docs/benchmarks.md:
//!
//! ```sh
//! cargo bench -p ml-core --bench train
//! ```
//!
//! `BENCH_BARS=5000` times only the whole jobs of those sizes (comma-separated; 5,000 must be
//! among them for the fits and the forecast).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use ml_core::ingest::{BarSeries, IngestOptions, ingest_file};
use ml_core::model::artifact::Artifact;
use ml_core::model::boosting::Boosting;
use ml_core::model::dataset::{self, Dataset};
use ml_core::model::forest::Forest;
use ml_core::model::{self, TrainConfig};

const RUNS: usize = 3;

fn median_seconds(run: impl FnMut()) -> f64 {
    median_of(RUNS, run)
}

fn median_of(runs: usize, mut run: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

fn main() {
    let data = std::env::var_os("BOLTFLEET_DATA")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), Into::into);
    let ingested =
        ingest_file(&data.join("BTCUSD-1h-coinbase.csv"), &IngestOptions::default()).expect("ingests");
    let full = &ingested.series[0];
    let config = TrainConfig::for_timeframe(full.timeframe);
    let threads = rayon::current_num_threads();
    println!(
        "{threads} threads, {} trees, {} boosting rounds x 3 classes",
        config.forest.trees, config.boosting.rounds
    );

    let mut artifact_of_5000 = None;
    let sizes: Vec<usize> = std::env::var("BENCH_BARS").map_or_else(
        |_| vec![500, 5_000, 20_000],
        |sizes| sizes.split(',').map(|size| size.trim().parse().expect("BENCH_BARS: bar counts")).collect(),
    );
    for bars in sizes {
        let series = BarSeries { bars: full.bars[..bars].to_vec(), ..full.clone() };
        let mut payload_bytes = 0;
        let seconds = median_seconds(|| {
            let trained = model::train(&series, &config, chrono::Utc::now()).expect("trains");
            payload_bytes = trained.bytes.payload.len();
            if bars == 5_000 {
                artifact_of_5000 = Some(trained.bytes);
            }
        });
        println!(
            "whole job, {bars:>6} bars: {seconds:.3} s (median of {RUNS}), payload {payload_bytes} bytes"
        );
    }

    let series = BarSeries { bars: full.bars[..5_000].to_vec(), ..full.clone() };
    let rows = Dataset::from_bars(&series.bars, &config.labels).expect("dataset");
    let split = dataset::holdout(&rows, config.train_fraction, config.labels.horizon);
    let train = rows.select(&split.train);
    let n_features = train.n_features();
    let pool = rayon::ThreadPoolBuilder::new().build().expect("pool");
    let forest = median_seconds(|| {
        pool.install(|| Forest::fit(&train.features, &train.labels, n_features, &config.forest, 42))
            .expect("rf");
    });
    let boosting = median_seconds(|| {
        pool.install(|| Boosting::fit(&train.features, &train.labels, n_features, &config.boosting, 42))
            .expect("gb");
    });
    println!(
        "fits alone on the 5,000-bar training matrix ({} rows x {n_features}): random forest {forest:.3} s, gradient boosting {boosting:.3} s",
        train.len()
    );

    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-train-5000.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out).expect("csv"));
    writeln!(file, "{},label", train.feature_names.join(",")).expect("write");
    for (i, label) in train.labels.iter().enumerate() {
        let row: Vec<String> = train.row(i).iter().map(f64::to_string).collect();
        writeln!(file, "{},{}", row.join(","), label.score()).expect("write");
    }
    println!("training matrix written to {}", out.display());

    // A forecast job's compute, on one core as a worker's job runs it.
    let bytes = artifact_of_5000.expect("the 5,000-bar job ran");
    let one_core = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let window = &full.bars[full.bars.len() - 500..];
    let model = Artifact::decode(&bytes).expect("decodes").model;
    let (decode, predict) = one_core.install(|| {
        let decode = median_of(21, || {
            std::hint::black_box(Artifact::decode(&bytes).expect("decodes"));
        });
        let predict = median_of(21, || {
            std::hint::black_box(model::predict(&model, window).expect("predicts"));
        });
        (decode, predict)
    });
    println!(
        "forecast on one core: decode {:.1} ms ({} payload bytes), predict from 500 bars {:.1} ms: \
         {:.0} forecasts/s decoding every time, {:.0}/s from a cached model",
        decode * 1e3,
        bytes.payload.len(),
        predict * 1e3,
        1.0 / (decode + predict),
        1.0 / predict
    );
}
