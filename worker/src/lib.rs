//! The worker: trains ensembles and forecasts with them, from the fleet's job queue (`run`)
//! or from files on the command line (`train-file`, `predict`).
//!
//! `main.rs` only parses the command line and calls [`run`].

mod artifact_dir;
mod metrics;
mod model_cache;
mod offline;
pub mod payload;
mod running;
mod serve;
mod table;

use clap::{Parser, Subcommand};

pub use serve::{DEFAULT_MAX_MODEL_AGE_DAYS, DEFAULT_MODEL_CACHE_SIZE, RunArgs, serve};

/// boltfleet worker: train and forecast.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Pull train and forecast jobs from the queue until SIGTERM/SIGINT.
    Run(RunArgs),
    /// Train one ensemble from a bar file, with no server, and print its evaluation.
    TrainFile(offline::TrainFileArgs),
    /// Forecast the direction after the last bar of a file with a trained artifact.
    Predict(offline::PredictArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            // Only the queue loop needs a runtime; the file commands are plain CPU work.
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(serve(args, fleet::shutdown_signal()))
        }
        Command::TrainFile(args) => offline::train_file(&args),
        Command::Predict(args) => offline::predict(&args),
    }
}
