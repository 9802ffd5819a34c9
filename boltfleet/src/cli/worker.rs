//! `boltfleet worker run|train-file|predict`.

use clap::{Args, Subcommand};

use super::services::{OpsArgs, PromotionArgs, QueueArgs, StoreArgs};
use crate::offline::{PredictArgs, TrainFileArgs};

#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Pull train and forecast jobs from the queue until SIGTERM/SIGINT.
    Run(Box<RunArgs>),
    /// Train one ensemble from a bar file, with no server, and print its evaluation.
    TrainFile(TrainFileArgs),
    /// Forecast the direction after the last bar of a file with a trained artifact.
    Predict(PredictArgs),
}

/// The settings of `worker run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    queue: QueueArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Jobs run at once by this process (default: one per core).
    #[arg(long, env = "WORKER_CONCURRENCY")]
    concurrency: Option<usize>,
    /// Threads per training job (default: cores / concurrency, at least 1).
    #[arg(long, env = "TRAIN_THREADS")]
    train_threads: Option<usize>,
    /// Forecasts refuse a model older than this many days.
    #[arg(long, env = "MAX_MODEL_AGE_DAYS", default_value_t = worker::Config::default().max_model_age_days)]
    max_model_age_days: u32,
    /// Memory for decoded models kept for forecasts, the most recently used, in MiB; 0
    /// decodes the artifact for every forecast.
    #[arg(long, env = "MODEL_CACHE_MIB", default_value_t = worker::Config::default().model_cache_mib)]
    model_cache_mib: usize,
    #[command(flatten)]
    promotion: PromotionArgs,
    #[command(flatten)]
    ops: OpsArgs,
    /// On SIGTERM/SIGINT, how long in-flight jobs may run on before the process exits; jobs
    /// still running then are re-queued by the other workers.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = worker::Config::default().shutdown_timeout_secs)]
    shutdown_timeout_secs: u64,
}

impl RunArgs {
    pub fn config(&self) -> anyhow::Result<worker::Config> {
        Ok(worker::Config {
            queue: self.queue.config()?,
            store: self.store.config(),
            concurrency: self.concurrency,
            train_threads: self.train_threads,
            max_model_age_days: self.max_model_age_days,
            model_cache_mib: self.model_cache_mib,
            promotion: self.promotion.policy(),
            ops: self.ops.config(),
            shutdown_timeout_secs: self.shutdown_timeout_secs,
        })
    }
}
