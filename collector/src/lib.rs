//! The collector: the only component that holds database write credentials. Today it applies
//! the schema (`migrate`); consuming results into `training_runs` and `ml_forecasts` comes with
//! the fleet.
//!
//! `main.rs` only parses the command line and calls [`run`].

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

/// The Supabase-compatible migrations, embedded at build time: `supabase db push` applies the
/// same files.
pub static MIGRATOR: Migrator = sqlx::migrate!("../supabase/migrations");

/// How long a start waits for the database before it gives up and says so.
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
}

#[derive(Debug, Args)]
struct DatabaseArgs {
    /// Postgres connection string, e.g. postgres://user:password@host:5432/db. It holds a
    /// secret: it is read from the environment and never logged.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate(args) => migrate(&args).await,
    }
}

async fn migrate(args: &DatabaseArgs) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect(&args.database_url)
        .await
        .context("cannot connect to the database named by DATABASE_URL")?;
    MIGRATOR.run(&pool).await.context("cannot apply the migrations")?;
    let applied = MIGRATOR.iter().count();
    tracing::info!(migrations = applied, "database schema up to date");
    pool.close().await;
    Ok(())
}
