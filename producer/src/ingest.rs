//! `producer ingest`: read bar files, report on them, and load them into `ohlc_bars`.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use shared::ingest::{FileReport, ingest_file};

use std::path::PathBuf;

use fleet::database::bars::Loaded;

use crate::ReadArgs;
use fleet::config::DatabaseArgs;
use fleet::database::Database;

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Only parse and validate; load nothing (no database needed).
    #[arg(long)]
    pub(crate) check: bool,
    /// The database (see `producer train --help`); needed unless --check.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, required_unless_present = "check")]
    pub(crate) database_url: Option<String>,
    /// Print the reports as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) read: ReadArgs,
    /// Bar files: CSV (optionally gzip-compressed) or Parquet.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
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

pub(crate) async fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let database = match (&args.database_url, args.check) {
        (Some(url), false) => Some(Database::connect(&DatabaseArgs { database_url: url.clone() }).await?),
        _ => None,
    };
    let options = args.read.options();
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
