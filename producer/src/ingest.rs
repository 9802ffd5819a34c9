//! `boltfleet ingest`: read bar files, report on them, and load them into `ohlc_bars`.

use crate::ProducerError;
use std::process::ExitCode;

use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt, stream};

use fleet::config::DatabaseConfig;
use fleet::database::Database;
use fleet::database::bars::Loaded;
use ml_core::ingest::{BarSeries, FileReport, IngestOptions, ingest_file};
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

/// Files read at once: parsing is CPU work, and a file's bars are held whole until loaded.
const FILES_AT_ONCE: usize = 2;
/// Series of a file loaded at once, each a transaction on a connection of its own (all the
/// files' loads together use no more connections than the pool has).
const LOADS_AT_ONCE: usize = fleet::database::POOL_CONNECTIONS / FILES_AT_ONCE;

/// Reads, reports and (with a database) loads every file, several at once; the exit code says
/// whether every file was usable.
pub async fn run(args: Ingest) -> Result<ExitCode, ProducerError> {
    let database = match &args.database {
        Some(database) => Some(Database::connect(database).await?),
        None => None,
    };
    // Collected first: a stream holding the closure's borrow of each path is not `Send` to
    // the compiler (the higher-ranked lifetime of rust-lang/rust#89976).
    let files: Vec<_> =
        args.files.iter().map(|path| ingest(path, &args.options, database.as_ref())).collect();
    let outcomes: Vec<FileOutcome> = stream::iter(files).buffered(FILES_AT_ONCE).try_collect().await?;
    if let Some(database) = &database {
        database.analyze_bars().await?;
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

/// One file read, reported and (with a database) loaded: a file that cannot be read is an
/// outcome, a database that refuses the bars an error.
async fn ingest(
    path: &Path,
    options: &IngestOptions,
    database: Option<&Database>,
) -> Result<FileOutcome, ProducerError> {
    let file = path.display().to_string();
    // Parsing is CPU work: off the async runtime.
    let read = {
        let (path, options) = (path.to_owned(), options.clone());
        tokio::task::spawn_blocking(move || ingest_file(&path, &options)).await?
    };
    let ingested = match read {
        Ok(ingested) => ingested,
        Err(error) => return Ok(FileOutcome::Failed { file, error: error.to_string() }),
    };
    let loaded = match database {
        Some(database) => {
            let source = path.file_name().map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
            let loads: Vec<_> =
                ingested.series.iter().map(|series| load(database, series, &source, &file)).collect();
            stream::iter(loads).buffered(LOADS_AT_ONCE).try_collect().await?
        }
        None => Vec::new(),
    };
    Ok(FileOutcome::Ok { report: ingested.report, loaded })
}

/// One series of `file` into the database.
async fn load(
    database: &Database,
    series: &BarSeries,
    source: &str,
    file: &str,
) -> Result<SeriesLoaded, ProducerError> {
    let loaded = database.upsert_bars(series, source).await?;
    tracing::info!(file, symbol = %series.symbol, timeframe = %series.timeframe, written = loaded.written, unchanged = loaded.unchanged, "bars loaded");
    Ok(SeriesLoaded { symbol: series.symbol.to_string(), timeframe: series.timeframe.to_string(), loaded })
}
