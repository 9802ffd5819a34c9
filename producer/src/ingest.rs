//! `boltfleet ingest`: read bar files, report on them, and load them into `ohlc_bars`.

use crate::ProducerError;
use std::process::ExitCode;

use std::path::PathBuf;

use fleet::config::DatabaseConfig;
use fleet::database::Database;
use fleet::database::bars::Loaded;
use ml_core::ingest::{FileReport, IngestOptions, ingest_file};
use serde::Serialize;

/// What `ingest` reads, and where it loads it.
#[derive(Debug, Clone, Default)]
pub struct Ingest {
    /// The database to load into; `None` only checks the files (no database needed).
    pub database: Option<DatabaseConfig>,
    /// Print the reports as JSON.
    pub json: bool,
    pub options: IngestOptions,
    /// Bar files: CSV (optionally gzip-compressed) or Parquet.
    pub files: Vec<PathBuf>,
}

/// One file's outcome in `--json` output.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum FileOutcome {
    Ok {
        #[serde(flatten)]
        report: FileReport,
        /// What the database took, per series; absent with --check.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        loaded: Vec<SeriesLoaded>,
    },
    Failed {
        file: String,
        error: String,
    },
}

#[derive(Debug, Serialize)]
struct SeriesLoaded {
    symbol: String,
    timeframe: String,
    #[serde(flatten)]
    loaded: Loaded,
}

/// Reads, reports and (with a database) loads every file; the exit code says whether every
/// file was usable.
pub async fn run(args: Ingest) -> Result<ExitCode, ProducerError> {
    let database = match &args.database {
        Some(database) => Some(Database::connect(database).await?),
        None => None,
    };
    let options = args.options;
    let mut outcomes = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let file = path.display().to_string();
        // Parsing is CPU work: off the async runtime.
        let read = {
            let (path, options) = (path.clone(), options.clone());
            tokio::task::spawn_blocking(move || ingest_file(&path, &options)).await?
        };
        let ingested = match read {
            Ok(ingested) => ingested,
            Err(error) => {
                outcomes.push(FileOutcome::Failed { file, error: error.to_string() });
                continue;
            }
        };
        let mut loaded = Vec::new();
        if let Some(database) = &database {
            let source = path.file_name().map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
            for series in &ingested.series {
                let result = database.upsert_bars(series, &source).await?;
                tracing::info!(file, symbol = %series.symbol, timeframe = %series.timeframe, written = result.written, unchanged = result.unchanged, "bars loaded");
                loaded.push(SeriesLoaded {
                    symbol: series.symbol.to_string(),
                    timeframe: series.timeframe.to_string(),
                    loaded: result,
                });
            }
        }
        outcomes.push(FileOutcome::Ok { report: ingested.report, loaded });
    }
    let failed = outcomes.iter().any(|o| matches!(o, FileOutcome::Failed { .. }));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcomes)?);
    } else {
        for outcome in &outcomes {
            match outcome {
                FileOutcome::Ok { report, loaded } => {
                    print!("{report}");
                    for series in loaded {
                        println!(
                            "  loaded {} {}: {} bars written, {} unchanged",
                            series.symbol, series.timeframe, series.loaded.written, series.loaded.unchanged
                        );
                    }
                }
                FileOutcome::Failed { error, .. } => println!("error: {error}"),
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
