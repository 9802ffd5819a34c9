//! `boltfleet`: the fleet's one program. Every role is a library (`producer`, `worker`,
//! `collector`, `dashboard`) with a plain `Config` and a `run`; this binary alone parses the
//! command line (clap, in [`cli`]), reports errors (`anyhow`), makes the process's
//! [`Shutdown`] and composes the roles: `boltfleet demo` runs them all in one process.
//!
//! - `boltfleet demo`: the embedded fleet ([`demo`]).
//! - `boltfleet ingest|features|train|forecast|ping|evaluate|models|schedule`: the producer's
//!   verbs.
//! - `boltfleet worker run|train-file|predict` ([`offline`] for the two on files),
//!   `boltfleet collector run|migrate`, `boltfleet dashboard`.

mod cli;
mod demo;
mod offline;

use std::process::ExitCode;

use clap::Parser;
use fleet::shutdown::Shutdown;
use tracing::Instrument;

use crate::cli::collector::CollectorCommand;
use crate::cli::worker::WorkerCommand;
use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Outside the runtime: dropped last, it sends the last spans (its HTTP client blocks).
    let telemetry = fleet::telemetry::init(cli.command.default_log_filter(), service_name(&cli.command));
    let code = match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "boltfleet failed");
            ExitCode::FAILURE
        }
    };
    drop(telemetry);
    code
}

/// The role a command plays, as traces name their service.
fn service_name(command: &Command) -> &'static str {
    match command {
        Command::Demo(_) | Command::Producer(_) => "producer",
        Command::Worker(_) => "worker",
        Command::Collector(_) => "collector",
        Command::Dashboard(_) => "dashboard",
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    // The command runs as a task on the runtime's threads, and this thread only waits for it:
    // a worker's loop and the jobs it spawns then wake each other on one thread where they
    // can, instead of across two (one worker at concurrency 1 ran 15-20 % more no-op jobs a
    // second: docs/benchmarks.md).
    let command = runtime.spawn(async move {
        let shutdown = Shutdown::on_signals()?;
        let outcome = run_async(command, &shutdown).await;
        // Every task the command spawned ends before the process does.
        shutdown.stop().await;
        outcome
    });
    runtime.block_on(command)?
}

async fn run_async(command: Command, shutdown: &Shutdown) -> anyhow::Result<ExitCode> {
    let name = command.name();
    match command {
        // The producer's span is the root of the run's trace: the jobs it enqueues carry it
        // to the workers.
        Command::Demo(args) => {
            demo::run(*args, shutdown).instrument(tracing::info_span!("producer", command = name)).await
        }
        Command::Producer(command) => {
            command.run(shutdown).instrument(tracing::info_span!("producer", command = name)).await
        }
        Command::Worker(WorkerCommand::Run(args)) => {
            worker::run(args.config()?, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        // Plain CPU work, off the runtime's threads.
        Command::Worker(WorkerCommand::TrainFile(args)) => {
            tokio::task::spawn_blocking(move || offline::train_file(&args)).await??;
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker(WorkerCommand::Predict(args)) => {
            tokio::task::spawn_blocking(move || offline::predict(&args)).await??;
            Ok(ExitCode::SUCCESS)
        }
        Command::Collector(CollectorCommand::Migrate(args)) => {
            collector::migrate(&args.config()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Collector(CollectorCommand::Run(args)) => {
            collector::run(args.config()?, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dashboard(args) => {
            dashboard::run(args.config()?, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
