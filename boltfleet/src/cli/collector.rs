//! `boltfleet collector migrate|run`.

use clap::{Args, Subcommand};

use super::services::{DatabaseArgs, OpsArgs, QueueArgs};

#[derive(Debug, Subcommand)]
pub enum CollectorCommand {
    /// Apply the database migrations (supabase/migrations, or sqlite/migrations) and exit.
    Migrate(DatabaseArgs),
    /// Apply the migrations, then write results from the queue into the database until
    /// SIGTERM/SIGINT.
    Run(RunArgs),
}

/// The settings of `collector run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    queue: QueueArgs,
    /// Results written per transaction at most.
    #[arg(long, env = "COLLECTOR_BATCH_SIZE", default_value_t = collector::Config::default().batch_size)]
    batch_size: usize,
    /// This collector's name in the results consumer group. A collector restarted under the
    /// same name takes its unacknowledged results back at once; others take them after 30 s.
    #[arg(long, env = "COLLECTOR_NAME")]
    name: Option<String>,
    #[command(flatten)]
    ops: OpsArgs,
}

impl RunArgs {
    pub fn config(&self) -> anyhow::Result<collector::Config> {
        Ok(collector::Config {
            database: self.database.config(),
            queue: self.queue.config()?,
            batch_size: self.batch_size,
            name: self.name.clone(),
            ops: self.ops.config(),
        })
    }
}
