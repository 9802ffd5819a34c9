//! `producer ingest`: read bar files and report on them.

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use shared::ingest::{FileReport, ingest_file};

use std::path::PathBuf;

use crate::ReadArgs;

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Only parse and validate; load nothing. (Loading into Postgres comes with the fleet.)
    #[arg(long, required = true)]
    check: bool,
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    read: ReadArgs,
    /// Bar files: CSV (optionally gzip-compressed) or Parquet.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// One file's outcome in `--json` output.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
enum FileOutcome {
    Ok(FileReport),
    Failed { file: String, error: String },
}

pub(crate) fn run(args: &IngestArgs) -> anyhow::Result<ExitCode> {
    debug_assert!(args.check, "clap requires --check");
    let options = args.read.options();
    let outcomes: Vec<FileOutcome> = args
        .files
        .iter()
        .map(|path| match ingest_file(path, &options) {
            Ok(ingested) => FileOutcome::Ok(ingested.report),
            Err(error) => FileOutcome::Failed { file: path.display().to_string(), error: error.to_string() },
        })
        .collect();
    let failed = outcomes.iter().any(|o| matches!(o, FileOutcome::Failed { .. }));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcomes)?);
    } else {
        for outcome in &outcomes {
            match outcome {
                FileOutcome::Ok(report) => print!("{report}"),
                FileOutcome::Failed { error, .. } => println!("error: {error}"),
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
