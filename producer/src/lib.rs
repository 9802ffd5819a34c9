//! The producer: everything that feeds the fleet. It loads bar files into the database
//! (`ingest`), triggers runs (`train`, `forecast`, `ping`: one job per pair into the queue)
//! and follows them (`--wait`), lists and prunes models (`models`), writes feature frames for
//! inspection (`features`), and runs the whole fleet in one process (`demo`).
//!
//! `main.rs` only parses the command line and calls [`run`].

mod demo;
mod evaluate;
mod features;
mod ingest;
mod models;
mod schedule;
mod trigger;
mod wait;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use shared::ingest::{Adjustment, ColumnOverrides, IngestOptions};
use shared::{Symbol, Timeframe};
use tracing::Instrument;

/// boltfleet producer: ingest bars and feed the fleet.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole fleet in this process with no server: ingest the sample bars, train
    /// every pair with in-process workers, forecast, and print the results.
    Demo(demo::DemoArgs),
    /// Load bar files into ohlc_bars (or only validate them, --check), and print what was
    /// read, kept, skipped and loaded.
    Ingest(ingest::IngestArgs),
    /// Train every pair (or those asked for): one job per symbol x timeframe.
    Train(trigger::TrainArgs),
    /// Forecast every pair (or those asked for) with its latest model.
    Forecast(trigger::ForecastArgs),
    /// Score forecasts whose horizon has passed, report live accuracy per pair, and alert
    /// and retrain where it drifted below validation accuracy.
    Evaluate(evaluate::EvaluateArgs),
    /// Send no-op jobs through the whole fleet: proves it is up, and measures its overhead.
    Ping(trigger::PingArgs),
    /// Run forever, firing train, forecast and evaluate on their cron schedules (UTC).
    Schedule(Box<schedule::ScheduleArgs>),
    /// List, show and prune the trained models in the artifact store.
    Models(models::ModelsArgs),
    /// Write a bar file's bars with every feature column and the label, for inspection.
    Features(features::FeaturesArgs),
}

/// How to read bar files; everything is detected unless given.
#[derive(Debug, Default, Args)]
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

#[derive(Debug, Default, Clone, Copy, clap::ValueEnum)]
enum AdjustArg {
    #[default]
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

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Self::Demo(_) => "demo",
            Self::Ingest(_) => "ingest",
            Self::Train(_) => "train",
            Self::Forecast(_) => "forecast",
            Self::Evaluate(_) => "evaluate",
            Self::Ping(_) => "ping",
            Self::Schedule(_) => "schedule",
            Self::Models(_) => "models",
            Self::Features(_) => "features",
        }
    }
}

impl Cli {
    /// What the command logs unless `RUST_LOG` says otherwise. The demo is a terminal
    /// program: its tables are the output, and the workers' per-job lines would bury them.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Demo(_) => "warn,producer::demo=info",
            _ => fleet::telemetry::DEFAULT_FILTER,
        }
    }
}

/// Runs one command; the exit code says whether every input was usable. The command's span
/// is the root of its trace: the jobs it enqueues carry it to the workers.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let span = tracing::info_span!("producer", command = cli.command.name());
    run_command(cli.command).instrument(span).await
}

async fn run_command(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo(args) => demo::run(args).await,
        Command::Ingest(args) => ingest::run(args).await,
        Command::Train(args) => trigger::train(args).await,
        Command::Forecast(args) => trigger::forecast(args).await,
        Command::Ping(args) => trigger::ping(args).await,
        Command::Evaluate(args) => evaluate::run(args).await,
        Command::Schedule(args) => schedule::run(*args).await,
        Command::Models(args) => models::run(args).await,
        Command::Features(args) => tokio::task::spawn_blocking(move || features::run(&args)).await?,
    }
}
