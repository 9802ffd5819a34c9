//! `producer features`: a bar file's bars with every feature column and the label, written as
//! CSV or Parquet for inspection.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use polars::prelude::{CsvWriter, ParquetWriter, SerWriter};
use shared::Timeframe;
use shared::ingest::ingest_file;
use shared::labels::{LabelConfig, append_labels};

use crate::ReadArgs;

#[derive(Debug, Args)]
pub(crate) struct FeaturesArgs {
    /// A bar file (CSV, gzip-compressed CSV or Parquet).
    file: PathBuf,
    /// Output file; `.parquet` writes Parquet, anything else CSV.
    #[arg(short, long)]
    out: PathBuf,
    /// Resample the bars to this coarser timeframe first.
    #[arg(long)]
    resample: Option<Timeframe>,
    /// Bars ahead for the label (default: the timeframe's).
    #[arg(long)]
    horizon: Option<usize>,
    /// Return threshold for BULLISH/BEARISH, e.g. 0.009 (default: the timeframe's).
    #[arg(long)]
    threshold: Option<f64>,
    #[command(flatten)]
    read: ReadArgs,
}

pub(crate) fn run(args: &FeaturesArgs) -> anyhow::Result<ExitCode> {
    let mut series = ingest_file(&args.file, &args.read.options())?.into_single().context("use --symbol")?;
    if let Some(coarser) = args.resample {
        series.bars = shared::resample::resample(&series.bars, series.timeframe, coarser)?;
        series.timeframe = coarser;
    }
    let defaults = LabelConfig::for_timeframe(series.timeframe);
    let labels = LabelConfig {
        horizon: args.horizon.unwrap_or(defaults.horizon),
        threshold: args.threshold.unwrap_or(defaults.threshold),
    };
    let frame = shared::features::compute(&series.bars)?;
    let mut frame = append_labels(frame, &labels)?;

    let file =
        std::fs::File::create(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    if args.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")) {
        ParquetWriter::new(file).finish(&mut frame)?;
    } else {
        CsvWriter::new(file).finish(&mut frame)?;
    }
    tracing::info!(
        symbol = %series.symbol,
        timeframe = %series.timeframe,
        rows = frame.height(),
        columns = frame.width(),
        out = %args.out.display(),
        "features written"
    );
    Ok(ExitCode::SUCCESS)
}
