//! `worker train-file` and `worker predict`: the ML core on local files, no server needed.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use shared::ingest::{BarSeries, IngestOptions, ingest_file};
use shared::model::artifact::Artifact;
use shared::model::{self, TrainConfig};
use shared::{Symbol, Timeframe};

use crate::{artifact_dir, table};

/// Which series of a bar file to use.
#[derive(Debug, Args)]
pub(crate) struct SeriesArgs {
    /// A bar file (CSV, gzip-compressed CSV or Parquet).
    file: PathBuf,
    /// Symbol of the bars, or the one ticker to use from a multi-ticker file.
    #[arg(long)]
    symbol: Option<Symbol>,
    /// Timeframe of the bars, instead of detecting it.
    #[arg(long)]
    timeframe: Option<Timeframe>,
}

impl SeriesArgs {
    fn load(&self) -> anyhow::Result<BarSeries> {
        let options =
            IngestOptions { symbol: self.symbol.clone(), timeframe: self.timeframe, ..Default::default() };
        ingest_file(&self.file, &options)?.into_single().context("use --symbol")
    }
}

#[derive(Debug, Args)]
pub(crate) struct TrainFileArgs {
    #[command(flatten)]
    series: SeriesArgs,
    /// Write the artifact (manifest.json and model.bin) into this folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the evaluation as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also evaluate on this many expanding walk-forward folds.
    #[arg(long)]
    walk_forward: Option<usize>,
    /// Bars ahead for the label (default: the timeframe's).
    #[arg(long)]
    horizon: Option<usize>,
    /// Return threshold for BULLISH/BEARISH, e.g. 0.009 (default: the timeframe's).
    #[arg(long)]
    threshold: Option<f64>,
    /// Share of the rows, oldest first, that train.
    #[arg(long, default_value_t = 0.7)]
    train_fraction: f64,
    /// Random Forest trees.
    #[arg(long, default_value_t = 200)]
    trees: u16,
    /// Random Forest maximum depth.
    #[arg(long, default_value_t = 15)]
    max_depth: u16,
    /// Gradient-boosting rounds per class.
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    /// Gradient-boosting learning rate.
    #[arg(long, default_value_t = 0.05)]
    learning_rate: f32,
    /// Training threads (default: one per core).
    #[arg(long, env = "TRAIN_THREADS", default_value_t = 0)]
    threads: usize,
    /// Seed of every random choice in training.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub(crate) fn train_file(args: &TrainFileArgs) -> anyhow::Result<()> {
    let series = args.series.load()?;
    let mut config = TrainConfig::for_timeframe(series.timeframe);
    config.labels.horizon = args.horizon.unwrap_or(config.labels.horizon);
    config.labels.threshold = args.threshold.unwrap_or(config.labels.threshold);
    config.train_fraction = args.train_fraction;
    config.walk_forward_folds = args.walk_forward;
    config.forest.trees = args.trees;
    config.forest.max_depth = args.max_depth;
    config.boosting.rounds = args.rounds;
    config.boosting.learning_rate = args.learning_rate;
    config.threads = args.threads;
    config.seed = args.seed;
    let started = std::time::Instant::now();
    let trained = model::train(&series, &config, chrono::Utc::now())?;
    let manifest = &trained.artifact.manifest;
    tracing::info!(
        symbol = %series.symbol,
        timeframe = %series.timeframe,
        version = %manifest.version,
        seconds = started.elapsed().as_secs_f64(),
        payload_bytes = manifest.payload_bytes,
        "trained"
    );
    if let Some(dir) = &args.out {
        artifact_dir::write(dir, &trained.bytes)?;
        tracing::info!(dir = %dir.display(), "artifact written");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&manifest.evaluation)?);
    } else {
        print!("{}", table::evaluation(manifest));
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(crate) struct PredictArgs {
    /// An artifact folder written by `train-file --out`.
    artifact: PathBuf,
    #[command(flatten)]
    series: SeriesArgs,
    /// Print the forecast as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn predict(args: &PredictArgs) -> anyhow::Result<()> {
    let bytes = artifact_dir::read(&args.artifact)?;
    let artifact =
        Artifact::decode(&bytes).with_context(|| format!("artifact {}", args.artifact.display()))?;
    let series = args.series.load()?;
    let manifest = &artifact.manifest;
    if (&series.symbol, series.timeframe) != (&manifest.symbol, manifest.timeframe) {
        tracing::warn!(
            artifact_symbol = %manifest.symbol,
            artifact_timeframe = %manifest.timeframe,
            bars_symbol = %series.symbol,
            bars_timeframe = %series.timeframe,
            "the bars are not the series the model was trained on"
        );
    }
    let forecast = model::predict(&artifact.model, &series.bars)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&forecast)?);
    } else {
        print!("{}", table::forecast(&series, manifest, &forecast));
    }
    Ok(())
}
