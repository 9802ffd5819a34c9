//! The collector: the only component that holds database write credentials. It applies the
//! schema (`migrate`) and writes the fleet's results into `training_runs`, `ml_forecasts`
//! and `pings` (`run`).
//!
//! `main.rs` only parses the command line and calls [`run`].

mod collect;
mod metrics;

use std::time::Duration;

use clap::{Parser, Subcommand};
use fleet::config::DatabaseArgs;
use fleet::database::Database;
use tokio::sync::watch;

pub use collect::{RunArgs, collect};

/// boltfleet collector: writes results into the database.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the database migrations (supabase/migrations, or sqlite/migrations) and exit.
    Migrate(DatabaseArgs),
    /// Apply the migrations, then write results from the queue into the database until
    /// SIGTERM/SIGINT.
    Run(RunArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate(args) => migrate(&args).await,
        Command::Run(args) => collect(args, fleet::shutdown_signal()).await,
    }
}

/// `collector migrate`: creates the database `args` names if it is missing, and applies the
/// schema to it.
pub async fn migrate(args: &DatabaseArgs) -> anyhow::Result<()> {
    if Database::create_if_missing(args).await? {
        tracing::info!("database created");
    }
    let database = Database::connect(args).await?;
    let applied = database.migrate().await?;
    tracing::info!(migrations = applied, "database schema up to date");
    database.close().await;
    Ok(())
}

/// Connects, waiting for a database that is not up yet (as in a cluster starting). `None` if
/// asked to stop first.
async fn connect_retrying(
    args: &DatabaseArgs,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<Database>> {
    loop {
        match Database::connect(args).await {
            Ok(database) => return Ok(Some(database)),
            Err(error) if error.is_retryable() => {
                tracing::warn!(error = %format!("{:#}", anyhow::Error::from(error)), "database unreachable; retrying in 2 s");
            }
            Err(error) => return Err(error.into()),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => return Ok(None),
        }
    }
}
