//! The triggers `train`, `forecast` and `ping`: one run, one job per pair.
//!
//! The bars a job reads are frozen into a content-addressed Parquet snapshot in the store, and
//! the job names it: workers need no database, and every artifact names its data. A training
//! job's snapshot holds its pair's bars; a forecast run's pairs share files of many pairs
//! ([`SNAPSHOT_FILE_BARS`]), because a forecast is cheap beside a store write of its own.

use crate::ProducerError;
use std::process::ExitCode;

use chrono::Utc;
use fleet::config::{DatabaseConfig, QueueConfig, StoreConfig};
use fleet::database::Database;
use fleet::queue::Queue;
use fleet::queue::results::ResultsPublisher;
use fleet::store::ArtifactStore;
use futures_util::{StreamExt, TryStreamExt, stream};
use ml_core::job::{
    JOB_SCHEMA_VERSION, Job, JobKind, JobResult, LastBarFeatures, Outcome, Pair, Snapshot, TrainStatus,
    config_sha256, train_idempotency_key,
};
use ml_core::model::TrainSettings;
use ml_core::{Bar, Symbol, Timeframe};
use uuid::Uuid;

use crate::wait::{self, Expected, RunKind, Wait};

/// Pairs snapshotted at once, a database connection each: a snapshot is a database read, a
/// Parquet encoding and a store write, mostly spent waiting on the two services.
const SNAPSHOTS_AT_ONCE: usize = fleet::database::POOL_CONNECTIONS;

/// The most bars a forecast run puts in one snapshot file: a run of 1,000 pairs of 500 bars
/// is ten files, its first jobs start once a tenth of its bars are read, and a worker decodes
/// a file (about 3 MB of bars) once for all its jobs. A file per pair cost more than the
/// forecast itself (docs/benchmarks.md, issue 27).
const SNAPSHOT_FILE_BARS: usize = 50_000;

/// Forecast files built at once: one encodes and uploads while the next one's bars are read.
const FORECAST_FILES_AT_ONCE: usize = 2;

/// Which pairs a trigger covers; empty lists are every pair with bars.
#[derive(Debug, Default, Clone)]
pub struct Pairs {
    pub symbols: Vec<Symbol>,
    pub timeframes: Vec<Timeframe>,
}

/// The services a trigger talks to.
#[derive(Debug, Clone, Default)]
pub struct Services {
    pub database: DatabaseConfig,
    pub queue: QueueConfig,
    pub store: StoreConfig,
}

/// A training run.
#[derive(Debug, Clone, Default)]
pub struct Train {
    pub pairs: Pairs,
    pub services: Services,
    pub training: TrainSettings,
    /// Retrain pairs whose data and configuration were already trained on.
    pub force: bool,
    pub wait: Wait,
}

/// A forecast run.
#[derive(Debug, Clone)]
pub struct Forecast {
    pub pairs: Pairs,
    pub services: Services,
    /// Most recent bars sent with each forecast job (features need 69 at least).
    pub bars: usize,
    pub wait: Wait,
}

impl Default for Forecast {
    fn default() -> Self {
        Self { pairs: Pairs::default(), services: Services::default(), bars: 500, wait: Wait::default() }
    }
}

/// No-op jobs through the whole fleet.
#[derive(Debug, Clone)]
pub struct Ping {
    /// No-op jobs to send.
    pub count: usize,
    pub database: DatabaseConfig,
    pub queue: QueueConfig,
    pub wait: Wait,
}

impl Default for Ping {
    fn default() -> Self {
        Self {
            count: 1,
            database: DatabaseConfig::default(),
            queue: QueueConfig::default(),
            wait: Wait::default(),
        }
    }
}

/// What [`Trigger::enqueue_training`] did with a pair.
pub(crate) enum Training {
    Queued(Uuid),
    /// Trained before on the same data and configuration: the result to record.
    UpToDate(Box<JobResult>),
    /// An identical job of an earlier run holds the pair's idempotency key: the one to wait
    /// for (`None` if its claim expired meanwhile).
    AlreadyQueued(Option<Uuid>),
}

/// The connections of the verbs that trigger runs, opened once: a command's, or the
/// scheduler's for every firing.
#[derive(Debug, Clone)]
pub struct Connections {
    database: Database,
    queue: Queue,
    pub(crate) store: ArtifactStore,
}

impl Connections {
    pub async fn open(services: &Services) -> Result<Self, ProducerError> {
        Ok(Self {
            database: Database::connect(&services.database).await?,
            queue: Queue::connect(&services.queue).await?,
            store: ArtifactStore::open(&services.store)?,
        })
    }
}

/// One run: its id, and the connections it enqueues and reads through.
pub(crate) struct Trigger {
    pub(crate) database: Database,
    queue: Queue,
    pub(crate) results: ResultsPublisher,
    pub(crate) run_id: Uuid,
}

impl Trigger {
    fn start(database: Database, queue: Queue) -> Self {
        let run_id = Uuid::new_v4();
        tracing::info!(%run_id, "run started");
        Self { database, results: ResultsPublisher::new(&queue), queue, run_id }
    }

    async fn open(database: &DatabaseConfig, queue: &QueueConfig) -> Result<Self, ProducerError> {
        Ok(Self::start(Database::connect(database).await?, Queue::connect(queue).await?))
    }

    /// A run over connections that outlive it.
    pub(crate) fn on(connections: &Connections) -> Self {
        Self::start(connections.database.clone(), connections.queue.clone())
    }

    /// A job of this run, in the trace of the span that makes it.
    fn job(&self, kind: JobKind, idempotency_key: Option<String>) -> Job {
        Job::new(self.run_id, kind, idempotency_key).with_traceparent(fleet::telemetry::traceparent())
    }

    /// A result the producer settles itself, without a worker; the collector records it
    /// like any other.
    pub(crate) fn result(&self, outcome: Outcome) -> JobResult {
        JobResult {
            schema_version: JOB_SCHEMA_VERSION,
            job_id: Uuid::new_v4(),
            run_id: self.run_id,
            worker_id: None,
            started_at: None,
            finished_at: Utc::now(),
            outcome,
        }
    }

    /// Snapshots a pair's bars and enqueues its training job, unless the same data and
    /// configuration were trained on before (`force` retrains them anyway).
    pub(crate) async fn enqueue_training(
        &self,
        store: &ArtifactStore,
        pair: &Pair,
        training: &TrainSettings,
        force: bool,
    ) -> Result<Training, ProducerError> {
        let snapshot = self.snapshot(store, pair).await?;
        let config = training.config_for(pair.timeframe);
        let config_hash = config_sha256(&config);
        if !force
            && let Some(version) = self.database.up_to_date(pair, &snapshot.sha256, &config_hash).await?
        {
            // Recorded through the collector like any result, so the run's rows are complete.
            return Ok(Training::UpToDate(Box::new(self.result(Outcome::Train {
                pair: pair.clone(),
                snapshot,
                config_sha256: config_hash,
                status: TrainStatus::UpToDate { artifact_version: Some(version) },
            }))));
        }
        let key = train_idempotency_key(pair, &snapshot, &config);
        // --force still de-duplicates within the run, not across runs.
        let key = if force { format!("{key}:{}", self.run_id) } else { key };
        let job = self.job(JobKind::Train { pair: pair.clone(), snapshot, config }, Some(key));
        if self.queue.push(std::slice::from_ref(&job)).await? == 0 {
            let key = job.idempotency_key.as_deref().unwrap_or_default();
            return Ok(Training::AlreadyQueued(self.queue.claimant(key).await?));
        }
        Ok(Training::Queued(job.job_id))
    }

    /// Freezes a pair's bars into a snapshot in the store.
    async fn snapshot(&self, store: &ArtifactStore, pair: &Pair) -> Result<Snapshot, ProducerError> {
        let bars = self.database.bars(pair, None).await?;
        // Encoding Parquet is CPU work: off the async runtime.
        let (parquet, bars) = tokio::task::spawn_blocking(move || {
            ml_core::ingest::bars_to_parquet(&bars).map(|parquet| (parquet, bars))
        })
        .await??;
        Ok(store.put_snapshot(pair, parquet, &bars).await?)
    }

    /// Freezes the `last` bars of each of `pairs` into one snapshot file and enqueues their
    /// forecast jobs.
    async fn enqueue_forecasts(
        &self,
        store: &ArtifactStore,
        pairs: &[Pair],
        last: usize,
    ) -> Result<Vec<Expected>, ProducerError> {
        let bars = self.database.last_bars_of_pairs(pairs, last).await?;
        let pairs_bars: Vec<(Pair, Vec<Bar>)> = pairs.iter().cloned().zip(bars).collect();
        // Encoding Parquet and computing features are CPU work: off the async runtime.
        let (parquet, last_bars, pairs_bars) = tokio::task::spawn_blocking(move || {
            let parquet = ml_core::snapshot::encode_pairs(&pairs_bars)?;
            Ok::<_, ProducerError>((parquet, last_bar_features(&pairs_bars), pairs_bars))
        })
        .await??;
        let snapshots = store.put_snapshot_of_pairs(parquet, &pairs_bars).await?;
        let (mut jobs, mut expected) = (Vec::new(), Vec::new());
        for (((pair, _), snapshot), last_bar) in pairs_bars.into_iter().zip(snapshots).zip(last_bars) {
            let job = self.job(JobKind::Forecast { pair: pair.clone(), snapshot, last_bar }, None);
            expected.push(Expected { job_id: job.job_id, pair });
            jobs.push(job);
        }
        self.queue.push(&jobs).await?;
        Ok(expected)
    }

    async fn pairs(&self, args: &Pairs) -> Result<Vec<Pair>, ProducerError> {
        let pairs = self.database.pairs(&args.symbols, &args.timeframes).await?;
        if pairs.is_empty() {
            return Err(ProducerError::Refused(
                "no bars for the pairs asked for: run `boltfleet ingest` first".to_owned(),
            ));
        }
        Ok(pairs)
    }
}

/// The features at the last bar of each pair's bars, computed together, for its forecast job
/// to carry. A pair that cannot be forecast goes without, and so do all if the features
/// cannot be computed: their workers compute them from the snapshot and say what fails.
fn last_bar_features(pairs_bars: &[(Pair, Vec<Bar>)]) -> Vec<Option<LastBarFeatures>> {
    let series: Vec<&[Bar]> = pairs_bars.iter().map(|(_, bars)| &bars[..]).collect();
    match ml_core::model::last_bars_of_many(&series) {
        Ok(last_bars) => {
            last_bars.iter().map(|last_bar| last_bar.as_ref().ok().map(LastBarFeatures::of)).collect()
        }
        Err(error) => {
            tracing::warn!(error = %error, "cannot compute the forecasts' features; the workers will");
            vec![None; pairs_bars.len()]
        }
    }
}

/// Enqueues one training job per pair (a pair trained on the same data and configuration is
/// `up_to_date`), and follows the run if asked.
pub async fn train(args: Train) -> Result<ExitCode, ProducerError> {
    train_on(&Connections::open(&args.services).await?, &args).await
}

/// [`train`] over open connections (`args.services` is not read).
pub async fn train_on(connections: &Connections, args: &Train) -> Result<ExitCode, ProducerError> {
    let (store, trigger) = (&connections.store, Trigger::on(connections));
    let pairs = trigger.pairs(&args.pairs).await?;
    // Collected first: a stream holding the closure's borrow of each pair is not `Send` to
    // the compiler (the higher-ranked lifetime of rust-lang/rust#89976).
    let enqueues: Vec<_> =
        pairs.iter().map(|pair| trigger.enqueue_training(store, pair, &args.training, args.force)).collect();
    let trainings: Vec<Training> = stream::iter(enqueues).buffered(SNAPSHOTS_AT_ONCE).try_collect().await?;
    let mut expected = Vec::new();
    let mut settled = Vec::new();
    for (pair, training) in pairs.into_iter().zip(trainings) {
        match training {
            Training::Queued(job_id) => expected.push(Expected { job_id, pair }),
            Training::UpToDate(result) => {
                expected.push(Expected { job_id: result.job_id, pair });
                settled.push(*result);
            }
            Training::AlreadyQueued(Some(job_id)) => {
                tracing::info!(%pair, %job_id, "the same training is queued by an earlier run; waiting for that job");
                expected.push(Expected { job_id, pair });
            }
            Training::AlreadyQueued(None) => {
                tracing::warn!(%pair, "the same training was queued by an earlier run; not waiting for it");
            }
        }
    }
    trigger.results.publish(&settled).await?;
    tracing::info!(jobs = expected.len() - settled.len(), up_to_date = settled.len(), "run enqueued");
    finish(&trigger, RunKind::Train, &expected, &args.wait).await
}

/// Enqueues one forecast job per pair, and follows the run if asked.
pub async fn forecast(args: Forecast) -> Result<ExitCode, ProducerError> {
    forecast_on(&Connections::open(&args.services).await?, &args).await
}

/// [`forecast`] over open connections (`args.services` is not read).
pub async fn forecast_on(connections: &Connections, args: &Forecast) -> Result<ExitCode, ProducerError> {
    if args.bars <= ml_core::features::TRAINING_WARM_UP {
        return Err(ProducerError::Refused(format!(
            "--bars {} is too few: forecasts need more than {}",
            args.bars,
            ml_core::features::TRAINING_WARM_UP
        )));
    }
    let (store, trigger) = (&connections.store, Trigger::on(connections));
    let pairs = trigger.pairs(&args.pairs).await?;
    let pairs_per_file = (SNAPSHOT_FILE_BARS / args.bars).max(1);
    // Collected first, as in `train_on`.
    let files: Vec<_> = pairs
        .chunks(pairs_per_file)
        .map(|pairs| trigger.enqueue_forecasts(store, pairs, args.bars))
        .collect();
    let files: Vec<Vec<Expected>> =
        stream::iter(files).buffered(FORECAST_FILES_AT_ONCE).try_collect().await?;
    let expected: Vec<Expected> = files.into_iter().flatten().collect();
    tracing::info!(jobs = expected.len(), "run enqueued");
    finish(&trigger, RunKind::Forecast, &expected, &args.wait).await
}

/// Sends no-op jobs through the fleet, and counts them back if asked.
pub async fn ping(args: Ping) -> Result<ExitCode, ProducerError> {
    let trigger = Trigger::open(&args.database, &args.queue).await?;
    let traceparent = fleet::telemetry::traceparent();
    let jobs: Vec<Job> = (0..args.count)
        .map(|_| Job::new(trigger.run_id, JobKind::Ping, None).with_traceparent(traceparent.clone()))
        .collect();
    let started = std::time::Instant::now();
    trigger.queue.push(&jobs).await?;
    tracing::info!(jobs = args.count, seconds = started.elapsed().as_secs_f64(), "pings enqueued");
    if !args.wait.wait {
        println!("run {}: {} pings enqueued", trigger.run_id, args.count);
        return Ok(ExitCode::SUCCESS);
    }
    let done = wait::count(&trigger.database, &trigger.queue, trigger.run_id, args.count, &args.wait).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "run {}: {done}/{} pings through queue, workers, collector and database in {seconds:.2} s ({:.0} jobs/s)",
        trigger.run_id,
        args.count,
        done as f64 / seconds
    );
    Ok(if done == args.count { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn finish(
    trigger: &Trigger,
    kind: RunKind,
    expected: &[Expected],
    args: &Wait,
) -> Result<ExitCode, ProducerError> {
    if !args.wait {
        println!("run {}: {} jobs", trigger.run_id, expected.len());
        return Ok(ExitCode::SUCCESS);
    }
    wait::follow(&trigger.database, &trigger.queue, kind, trigger.run_id, expected, args).await
}
