//! The producer role: everything that feeds the fleet. It loads bar files into the database
//! ([`ingest`]), triggers runs ([`trigger`]: train, forecast, ping; one job per pair into
//! the queue) and follows them ([`wait`]), scores live forecasts and watches for drift
//! ([`evaluate`]), fires those on cron schedules ([`schedule`]), lists and prunes models
//! ([`models`]) and writes feature frames for inspection ([`features`]).
//!
//! Each verb takes a plain settings struct; `boltfleet` fills them from its command line.

pub mod evaluate;
pub mod features;
pub mod ingest;
pub mod models;
pub mod schedule;
pub mod trigger;
pub mod wait;

use std::path::PathBuf;

use fleet::database::DatabaseError;
use fleet::queue::QueueError;
use fleet::store::StoreError;

/// Why a verb could not do its work; a file that cannot be read is not an error of the verb
/// but a line of its report, and a failed job is a row of its run.
#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    #[error("the results database failed")]
    Database(#[from] DatabaseError),
    #[error("the queue failed")]
    Queue(#[from] QueueError),
    #[error("the artifact store failed")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] ml_core::ingest::IngestError),
    #[error(transparent)]
    Resample(#[from] ml_core::resample::ResampleError),
    #[error("cannot compute the bars' frame")]
    Frame(#[from] polars::error::PolarsError),
    #[error("cannot write {path}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot print the report as JSON")]
    Json(#[from] serde_json::Error),
    #[error("a blocking task did not finish")]
    Blocking(#[from] tokio::task::JoinError),
    /// What was asked cannot be done as asked: the message says what to do instead.
    #[error("{0}")]
    Refused(String),
    #[error("cannot follow the run in {service}")]
    Follow { service: &'static str, source: Box<ProducerError> },
}

impl ProducerError {
    /// A server that is away (the database, the queue, the store) may be back; the rest is
    /// the same at every try.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Database(error) => error.is_retryable(),
            Self::Queue(error) => error.is_retryable(),
            Self::Store(error) => error.is_retryable(),
            Self::Follow { source, .. } => source.is_retryable(),
            Self::Ingest(_)
            | Self::Resample(_)
            | Self::Frame(_)
            | Self::Write { .. }
            | Self::Json(_)
            | Self::Blocking(_)
            | Self::Refused(_) => false,
        }
    }
}
