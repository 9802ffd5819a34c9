//! The collector: the only component that holds database write credentials. It applies the
//! schema (`migrate`) and writes the fleet's results into `training_runs`, `ml_forecasts`
//! and `pings` (`run`).
//!
//! `main.rs` only parses the command line and calls [`run`].

mod collect;
mod metrics;
mod rows;

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fleet::config::DatabaseArgs;
use fleet::database::Database;
use sqlx::migrate::Migrator;
use tokio::sync::watch;

pub use collect::{RunArgs, collect};

/// The Supabase-compatible migrations, embedded at build time: `supabase db push` applies the
/// same files.
pub static MIGRATOR: Migrator = sqlx::migrate!("../supabase/migrations");

/// The embedded database's schema: the same tables and columns in SQLite's types, without
/// Supabase's roles and row-level security (a file has no users).
pub static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../sqlite/migrations");

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
    let applied = apply_migrations(&database).await?;
    tracing::info!(migrations = applied, "database schema up to date");
    database.close().await;
    Ok(())
}

/// Applies the migrations of the database's kind; returns how many there are.
async fn apply_migrations(database: &Database) -> anyhow::Result<usize> {
    let (migrator, outcome) = match database {
        Database::Postgres(pool) => (&MIGRATOR, MIGRATOR.run(pool).await),
        Database::Sqlite(pool) => (&SQLITE_MIGRATOR, SQLITE_MIGRATOR.run(pool).await),
    };
    outcome.context("cannot apply the migrations")?;
    Ok(migrator.iter().count())
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
