//! The command line: clap lives here and nowhere else. Each role's flags and environment
//! names become that role's plain `Config`, whose `Default` gives every default.

pub mod collector;
pub mod dashboard;
pub mod producer;
pub mod services;
pub mod worker;

use clap::{Parser, Subcommand};

use self::collector::CollectorCommand;
use self::dashboard::DashboardArgs;
use self::producer::ProducerCommand;
use self::worker::WorkerCommand;
use crate::demo::DemoArgs;

/// boltfleet: train and serve market-direction models, on one machine or a fleet.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole fleet in this process with no server: ingest the sample bars, train
    /// every pair with in-process workers, forecast, and print the results.
    Demo(Box<DemoArgs>),
    #[command(flatten)]
    Producer(Box<ProducerCommand>),
    /// Train and forecast: from the job queue (`run`), or from bar files (`train-file`, `predict`).
    #[command(subcommand)]
    Worker(WorkerCommand),
    /// Write the fleet's results into the database (`run`), or apply its schema (`migrate`).
    #[command(subcommand)]
    Collector(CollectorCommand),
    /// Serve the results, the queue and the artifacts as pages and JSON.
    Dashboard(Box<DashboardArgs>),
}

impl Command {
    /// The command's name, for its span and its log lines.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Demo(_) => "demo",
            Self::Producer(command) => command.name(),
            Self::Worker(_) => "worker",
            Self::Collector(_) => "collector",
            Self::Dashboard(_) => "dashboard",
        }
    }

    /// What the command logs unless `RUST_LOG` says otherwise. The demo is a terminal
    /// program: its tables are the output, and the workers' per-job lines would bury them.
    pub fn default_log_filter(&self) -> &'static str {
        match self {
            Self::Demo(_) => "warn,boltfleet::demo=info",
            _ => fleet::telemetry::DEFAULT_FILTER,
        }
    }
}
