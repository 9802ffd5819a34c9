//! The worker: trains ensembles and forecasts with them. Today from files on the command line
//! (`train-file`, `predict`); the job-queue loop comes with the fleet.
//!
//! `main.rs` only parses the command line and calls [`run`].

mod artifact_dir;
mod offline;
mod table;

use clap::{Parser, Subcommand};

/// boltfleet worker: train and forecast.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train one ensemble from a bar file, with no server, and print its evaluation.
    TrainFile(offline::TrainFileArgs),
    /// Forecast the direction after the last bar of a file with a trained artifact.
    Predict(offline::PredictArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::TrainFile(args) => offline::train_file(&args),
        Command::Predict(args) => offline::predict(&args),
    }
}
