//! `boltfleet worker train-file` and `boltfleet worker predict`: the ML core on local files,
//! no server needed.

mod artifact_dir;
mod table;

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use ml_core::ingest::{BarSeries, IngestOptions, ingest_file};
use ml_core::model;
use ml_core::model::artifact::Artifact;
use ml_core::{Symbol, Timeframe};

use crate::cli::services::TrainingArgs;

/// Which series of a bar file to use.
#[derive(Debug, Args)]
pub struct SeriesArgs {
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
pub struct TrainFileArgs {
    #[command(flatten)]
    series: SeriesArgs,
    /// Write the artifact (manifest.json and model.bin) into this folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the evaluation as JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    training: TrainingArgs,
    /// Training threads (default: one per core).
    #[arg(long, env = "TRAIN_THREADS", default_value_t = 0)]
    threads: usize,
}

pub fn train_file(args: &TrainFileArgs) -> anyhow::Result<()> {
    let series = args.series.load()?;
    let mut config = args.training.settings().config_for(series.timeframe);
    config.threads = args.threads;
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
pub struct PredictArgs {
    /// An artifact folder written by `train-file --out`.
    artifact: PathBuf,
    #[command(flatten)]
    series: SeriesArgs,
    /// Print the forecast as JSON.
    #[arg(long)]
    json: bool,
}

pub fn predict(args: &PredictArgs) -> anyhow::Result<()> {
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
