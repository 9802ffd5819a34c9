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
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::watch;

/// The Supabase-compatible migrations, embedded at build time: `supabase db push` applies the
/// same files.
pub static MIGRATOR: Migrator = sqlx::migrate!("../supabase/migrations");

/// How long one connection attempt waits for the database.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// boltfleet collector: writes results into Postgres.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the database migrations (supabase/migrations) and exit.
    Migrate(DatabaseArgs),
    /// Apply the migrations, then write results from Redis into Postgres until SIGTERM/SIGINT.
    Run(collect::RunArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate(args) => migrate(&args).await,
        Command::Run(args) => collect::run(args).await,
    }
}

async fn migrate(args: &DatabaseArgs) -> anyhow::Result<()> {
    let pool = pool_options()
        .connect(&args.database_url)
        .await
        .context("cannot connect to the database named by DATABASE_URL")?;
    MIGRATOR.run(&pool).await.context("cannot apply the migrations")?;
    let applied = MIGRATOR.iter().count();
    tracing::info!(migrations = applied, "database schema up to date");
    pool.close().await;
    Ok(())
}

fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().max_connections(2).acquire_timeout(CONNECT_TIMEOUT)
}

/// Connects, waiting for a database that is not up yet (as in a cluster starting). `None` if
/// asked to stop first.
async fn connect_retrying(
    args: &DatabaseArgs,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<PgPool>> {
    let url: sqlx::postgres::PgConnectOptions =
        args.database_url.parse().context("DATABASE_URL is not a postgres URL")?;
    loop {
        match pool_options().connect_with(url.clone()).await {
            Ok(pool) => return Ok(Some(pool)),
            Err(error) => tracing::warn!(error = %error, "database unreachable; retrying in 2 s"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.changed() => return Ok(None),
        }
    }
}
