//! The producer: everything that feeds the fleet. It ingests bar files, and writes feature
//! frames for inspection.
//!
//! `main.rs` only parses the command line and calls [`run`].

mod features;
mod ingest;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use shared::ingest::{Adjustment, ColumnOverrides, IngestOptions};
use shared::{Symbol, Timeframe};

/// boltfleet producer: ingest bars and feed the fleet.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and validate bar files, and print what was read, kept and skipped.
    Ingest(ingest::IngestArgs),
    /// Write a bar file's bars with every feature column and the label, for inspection.
    Features(features::FeaturesArgs),
}

/// How to read bar files; everything is detected unless given.
#[derive(Debug, Args)]
struct ReadArgs {
    /// Symbol of the bars (files without a ticker column), or the one ticker to keep.
    #[arg(long)]
    symbol: Option<Symbol>,
    /// Timeframe of the bars (m1, m5, m15, m30, h1, h4, d1, w1) instead of detecting it.
    #[arg(long)]
    timeframe: Option<Timeframe>,
    /// Split/dividend adjustment from an `Adj Close` column.
    #[arg(long, value_enum, default_value = "auto")]
    adjust: AdjustArg,
    /// Fail on the first unusable row instead of skipping it.
    #[arg(long)]
    strict: bool,
    /// chrono pattern of the timestamp column, e.g. "%d.%m.%Y %H:%M:%S%.f".
    #[arg(long)]
    date_format: Option<String>,
    /// Name of the timestamp column.
    #[arg(long)]
    time_column: Option<String>,
    /// Name of the close column.
    #[arg(long)]
    close_column: Option<String>,
    /// Name of the volume column.
    #[arg(long)]
    volume_column: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AdjustArg {
    Auto,
    On,
    Off,
}

impl ReadArgs {
    fn options(&self) -> IngestOptions {
        IngestOptions {
            symbol: self.symbol.clone(),
            timeframe: self.timeframe,
            adjustment: match self.adjust {
                AdjustArg::Auto => Adjustment::Auto,
                AdjustArg::On => Adjustment::On,
                AdjustArg::Off => Adjustment::Off,
            },
            strict: self.strict,
            timestamp_format: self.date_format.clone(),
            columns: ColumnOverrides {
                time: self.time_column.clone(),
                close: self.close_column.clone(),
                volume: self.volume_column.clone(),
            },
        }
    }
}

/// Runs one command; the exit code says whether every input was usable.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Ingest(args) => ingest::run(&args),
        Command::Features(args) => features::run(&args),
    }
}
