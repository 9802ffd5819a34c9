//! The collector role: the only component that holds database write credentials, and the
//! only crate that enables `fleet`'s `results-writer` feature. It applies the schema
//! ([`migrate`]) and writes the fleet's results into `training_runs`, `ml_forecasts`, `pings`
//! and the other results tables ([`run`], until its [`Shutdown`] is triggered).

mod collect;
mod metrics;

use std::time::Duration;

use fleet::config::DatabaseConfig;
use fleet::database::{Database, DatabaseError};
use fleet::queue::QueueError;
use fleet::shutdown::Shutdown;

pub use collect::{Config, run};

/// Why the collector could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("the results database failed")]
    Database(#[from] DatabaseError),
    #[error("cannot connect to the queue")]
    Queue(#[from] QueueError),
    #[error("cannot serve the operator's endpoint")]
    Ops(#[source] std::io::Error),
}

impl CollectorError {
    /// A database or queue that is away may be back for the next start; a taken metrics
    /// address is the same at every start.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Database(error) => error.is_retryable(),
            Self::Queue(error) => error.is_retryable(),
            Self::Ops(_) => false,
        }
    }
}

/// Creates the database `config` names if it is missing (Postgres), and applies the schema
/// to it. Returns how many migrations the schema has.
pub async fn migrate(config: &DatabaseConfig) -> Result<usize, CollectorError> {
    if Database::create_if_missing(config).await? {
        tracing::info!("database created");
    }
    let database = Database::connect(config).await?;
    let applied = database.migrate().await?;
    tracing::info!(migrations = applied, "database schema up to date");
    database.close().await;
    Ok(applied)
}

/// Connects, waiting for a database that is not up yet (as in a cluster starting). `None` if
/// asked to stop first.
async fn connect_retrying(
    args: &DatabaseConfig,
    stop: &Shutdown,
) -> Result<Option<Database>, CollectorError> {
    loop {
        match Database::connect(args).await {
            Ok(database) => return Ok(Some(database)),
            Err(error) if error.is_retryable() => {
                tracing::warn!(error = %error, "database unreachable; retrying in 2 s");
            }
            Err(error) => return Err(error.into()),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            () = stop.triggered() => return Ok(None),
        }
    }
}
