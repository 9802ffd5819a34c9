//! `boltfleet features`: a bar file's bars with every feature column and the label, written as
//! CSV or Parquet for inspection.

use crate::ProducerError;
use std::path::PathBuf;
use std::process::ExitCode;

use ml_core::Timeframe;
use ml_core::ingest::{IngestOptions, ingest_file};
use ml_core::labels::{LabelConfig, append_labels};
use polars_io::prelude::{CsvWriter, ParquetWriter, SerWriter};

/// A bar file to write with its features and labels.
#[derive(Debug, Clone)]
pub struct Features {
    /// A bar file (CSV, gzip-compressed CSV or Parquet).
    pub file: PathBuf,
    /// Output file; `.parquet` writes Parquet, anything else CSV.
    pub out: PathBuf,
    /// Resample the bars to this coarser timeframe first.
    pub resample: Option<Timeframe>,
    /// Bars ahead for the label (`None`: the timeframe's).
    pub horizon: Option<usize>,
    /// Return threshold for BULLISH/BEARISH (`None`: the timeframe's).
    pub threshold: Option<f64>,
    pub options: IngestOptions,
}

/// Writes the file's bars with every feature column and the label. CPU work: call it from a
/// blocking thread.
pub fn run(args: &Features) -> Result<ExitCode, ProducerError> {
    let mut series = ingest_file(&args.file, &args.options)?
        .into_single()
        .map_err(|error| ProducerError::Refused(format!("use --symbol: {error}")))?;
    if let Some(coarser) = args.resample {
        series.bars = ml_core::resample::resample(&series.bars, series.timeframe, coarser)?;
        series.timeframe = coarser;
    }
    let defaults = LabelConfig::for_timeframe(series.timeframe);
    let labels = LabelConfig {
        horizon: args.horizon.unwrap_or(defaults.horizon),
        threshold: args.threshold.unwrap_or(defaults.threshold),
    };
    let frame = ml_core::features::compute(&series.bars)?;
    let mut frame = append_labels(frame, &labels)?;

    let file = std::fs::File::create(&args.out)
        .map_err(|source| ProducerError::Write { path: args.out.clone(), source })?;
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
