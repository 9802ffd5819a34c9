//! The worker role: pull jobs from the queue (Redis, or SQLite in embedded mode), train and
//! forecast, publish results, until the role's [`Shutdown`] is triggered.
//!
//! Every job ends in exactly one published result, whatever happens to it, except a payload
//! the worker cannot read: that job goes to the queue's dead set, with the error, for a human.
//! A failure that may pass (storage or Redis down) is handed back to the queue, which tries
//! the job again, up to [`MAX_ATTEMPTS`]; then it is published as failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::*;
use apalis_redis::RedisStorage;
use apalis_sqlite::SqliteStorage;
use chrono::Utc;
use fleet::backoff::Backoff;
use fleet::config::{QueueConfig, StoreConfig};
use fleet::lifecycle::{self, PromotionPolicy};
use fleet::ops::{Ops, OpsConfig};
use fleet::queue::results::ResultsPublisher;
use fleet::queue::{self, Backend, Queue, QueueError};
use fleet::shutdown::Shutdown;
use fleet::store::{ArtifactStore, Promotion, StoreError};
use ml_core::ingest::BarSeries;
use ml_core::job::{
    ArtifactRef, ForecastStatus, JOB_SCHEMA_VERSION, Job, JobKind, JobResult, Outcome, Pair, Snapshot,
    TrainStatus, config_sha256,
};
use ml_core::model::artifact::{Artifact, ArtifactError, Model};
use ml_core::model::{self, Evaluation, ModelError, TrainConfig};
use prometheus_client::registry::Registry;
use tracing::Instrument;

use crate::metrics::{CacheLookup, Kind, KindOutcome, WorkerMetrics};
use crate::model_cache::ModelCache;
use crate::payload::{LenientJson, Payload, job_of};
use crate::running::Running;

/// Attempts of a job that keeps failing for a reason that may pass, before it is reported
/// failed. apalis-redis re-schedules a failed job `attempt` seconds later, so 12 attempts
/// wait 1 + 2 + ... + 11 = 66 s in all: a store or Redis outage of a minute is ridden out
/// (5 attempts gave up after about 11 s, and an S3 restart failed every job of a run).
const MAX_ATTEMPTS: usize = 12;

/// How long a finished job's result is offered to a queue that is away (a Redis restart)
/// before the worker gives up on it. The work is done and its model stored: throwing it
/// away for a restart of a few seconds would cost the whole training again.
const RESULT_PATIENCE: Duration = Duration::from_secs(120);
/// The longest pause between two offers of a result.
const RESULT_RETRY_MAX: Duration = Duration::from_secs(2);

/// A worker's settings (`boltfleet worker run`, or a worker of the embedded demo).
#[derive(Debug, Clone)]
pub struct Config {
    pub queue: QueueConfig,
    pub store: StoreConfig,
    /// Jobs run at once by this worker (`None`: one per core).
    pub concurrency: Option<usize>,
    /// Threads per training job (`None`: cores / concurrency, at least 1).
    pub train_threads: Option<usize>,
    /// Forecasts refuse a model older than this many days.
    pub max_model_age_days: u32,
    /// Decoded models kept in memory for forecasts, the most recently used; 0 decodes the
    /// artifact for every forecast.
    pub model_cache_size: usize,
    pub promotion: PromotionPolicy,
    pub ops: OpsConfig,
    /// Once stopped, how long in-flight jobs may run on before `run` returns; jobs still
    /// running then are re-queued by the other workers.
    pub shutdown_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            queue: QueueConfig::default(),
            store: StoreConfig::default(),
            concurrency: None,
            train_threads: None,
            max_model_age_days: 60,
            model_cache_size: 32,
            promotion: PromotionPolicy::default(),
            ops: OpsConfig::default(),
            shutdown_timeout_secs: 60,
        }
    }
}

/// Why a worker stopped before it was told to, or could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot open the artifact store")]
    Store(#[from] StoreError),
    #[error("cannot connect to the queue")]
    Queue(#[from] QueueError),
    #[error("cannot serve the operator's endpoint")]
    Ops(#[source] std::io::Error),
    #[error("the worker's job pool stopped by itself")]
    PoolStopped,
    #[error("the worker's job pool stopped on an error")]
    Pool(#[from] MonitorError),
}

impl WorkerError {
    /// A store or queue that is away may be back for the next start (its supervisor's
    /// restart); a pool that died did so for its queue, which the restart waits out too. A
    /// taken metrics address or a misconfigured store is the same at every start.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(error) => error.is_retryable(),
            Self::Queue(error) => error.is_retryable(),
            Self::PoolStopped | Self::Pool(_) => true,
            Self::Ops(_) => false,
        }
    }
}

/// What every job handler needs: the store, the results stream and the settings.
#[derive(Debug)]
struct Fleet {
    store: ArtifactStore,
    results: ResultsPublisher,
    queue: Queue,
    worker_id: String,
    train_threads: usize,
    max_model_age: chrono::Duration,
    models: ModelCache<Model>,
    promotion: PromotionPolicy,
    metrics: WorkerMetrics,
    running: Running,
}

/// Why a job did not produce its outcome.
#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("artifact {version}: {source}")]
    Artifact { version: String, source: ArtifactError },
    #[error("the job's computation panicked: {0}")]
    Panicked(String),
}

impl JobError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Queue(e) => e.is_retryable(),
            Self::Model(e) => e.is_retryable(),
            Self::Artifact { .. } | Self::Panicked(_) => false,
        }
    }
}

/// Takes jobs until `shutdown` is triggered, then lets in-flight jobs finish for up to
/// `shutdown_timeout_secs`; returns once the worker's own tasks (its queue-depth sampler,
/// its metrics server) have ended too.
pub async fn run(args: Config, shutdown: &Shutdown) -> Result<(), WorkerError> {
    let tasks = shutdown.child();
    let outcome = serve(args, &tasks).await;
    tasks.stop().await;
    outcome
}

async fn serve(args: Config, shutdown: &Shutdown) -> Result<(), WorkerError> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let concurrency = args.concurrency.unwrap_or(cores).max(1);
    let train_threads = args.train_threads.unwrap_or((cores / concurrency).max(1));
    let store = ArtifactStore::open(&args.store)?;
    let queue = Queue::connect(&args.queue).await?;
    let worker_id = worker_id();
    let mut registry = Registry::default();
    let metrics = WorkerMetrics::register(&mut registry);
    let ops = Ops::serve(registry, &args.ops, shutdown).await.map_err(WorkerError::Ops)?;
    let fleet = Arc::new(Fleet {
        store,
        results: ResultsPublisher::new(&queue),
        queue: queue.clone(),
        worker_id: worker_id.clone(),
        train_threads,
        max_model_age: chrono::Duration::days(args.max_model_age_days.into()),
        models: ModelCache::new(args.model_cache_size),
        promotion: args.promotion,
        metrics,
        running: Running::default(),
    });
    shutdown.spawn(sample_queue_depth(fleet.clone(), shutdown.clone()));
    shutdown.spawn(take_over_orphans(fleet.clone(), shutdown.clone()));
    let running = fleet.running.clone();
    tracing::info!(worker_id, concurrency, train_threads, artifacts = fleet.store.url(), "worker started");
    ops.set_ready(true);
    // A name is never reused, not even by a restart in this process (a second registration
    // under a live name fails).
    let name = move |restarts: usize| {
        if restarts == 0 { worker_id.clone() } else { format!("{worker_id}-r{restarts}") }
    };
    // One registration per backend: the storage types differ, all the rest is the same.
    macro_rules! monitor_on {
        ($storage:expr) => {
            Monitor::new().register(move |restarts| {
                WorkerBuilder::new(name(restarts))
                    .backend($storage.with_codec(LenientJson).poll_with_interval(queue::POLL_INTERVAL))
                    .concurrency(concurrency)
                    .data(fleet.clone())
                    .build(handle)
            })
        };
    }
    let monitor = match queue.backend().clone() {
        Backend::Redis(conn) => {
            let config = queue::jobs_config(queue.prefix());
            monitor_on!(RedisStorage::<Payload>::new(conn.clone()).with_config(config.clone()))
        }
        Backend::Sqlite(pool) => {
            let config = queue.sqlite_config();
            monitor_on!(SqliteStorage::<Payload>::new(&pool).with_config(config.clone()))
        }
    };
    let grace = Duration::from_secs(args.shutdown_timeout_secs);
    let outcome = run_until(monitor, shutdown.triggered(), grace, &running).await;
    ops.set_ready(false);
    outcome?;
    tracing::info!("worker stopped");
    Ok(())
}

/// Runs the job pool until `shutdown` resolves, then lets in-flight jobs finish for up to
/// `grace`; jobs still running then return to the queue through the orphan rule.
///
/// Not apalis's `run_with_signal`: with a shutdown timeout it reports a pool that died (its
/// queue gone) as a clean stop, and without one it waits for the signal even then. A pool
/// that ends before the signal is an error here, so that the process exits non-zero and its
/// supervisor restarts it; first, the jobs it was running get `grace` to end and
/// [`RESULT_PATIENCE`] to publish their results.
async fn run_until(
    monitor: Monitor,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    running: &Running,
) -> Result<(), WorkerError> {
    let context = monitor.context();
    let pool = monitor.run();
    tokio::pin!(pool);
    tokio::select! {
        ended = &mut pool => {
            let stopped = match ended {
                Ok(()) => WorkerError::PoolStopped,
                Err(error) => WorkerError::Pool(error),
            };
            let jobs = running.count();
            if jobs > 0 {
                tracing::warn!(error = %stopped, jobs, "job pool stopped; its running jobs go on to publish their results");
                if !running.all_ended(grace + RESULT_PATIENCE).await {
                    tracing::warn!(jobs = running.count(), "jobs still running are left to the orphan rule");
                }
            }
            return Err(stopped);
        }
        () = shutdown => {}
    }
    context.shutdown()?;
    match tokio::time::timeout(grace, pool).await {
        Ok(stopped) => stopped?,
        Err(_) => tracing::warn!(
            grace_secs = grace.as_secs(),
            "jobs still running after the grace period return to the queue"
        ),
    }
    Ok(())
}

/// How often the queue's length is read for the `queue_depth` gauge.
const QUEUE_DEPTH_INTERVAL: Duration = Duration::from_secs(5);

async fn sample_queue_depth(fleet: Arc<Fleet>, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(QUEUE_DEPTH_INTERVAL);
    while shutdown.tick(&mut tick).await {
        match fleet.queue.waiting().await {
            Ok(waiting) => {
                fleet.metrics.queue_depth.set(i64::try_from(waiting).unwrap_or(i64::MAX));
            }
            Err(error) => tracing::debug!(error = %error, "cannot read the queue depth"),
        }
    }
}

/// How often the queue is searched for dead workers' jobs.
const TAKE_OVER_INTERVAL: Duration = Duration::from_secs(1);

/// Puts dead workers' jobs first in line as soon as the orphan rule calls them dead, every
/// [`TAKE_OVER_INTERVAL`]: left to apalis, they would wait behind the whole backlog (192 s
/// with every slot busy, docs/reliability.md).
async fn take_over_orphans(fleet: Arc<Fleet>, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(TAKE_OVER_INTERVAL);
    while shutdown.tick(&mut tick).await {
        match fleet.queue.take_over_orphans(&fleet.worker_id).await {
            Ok(0) => {}
            Ok(jobs) => tracing::info!(jobs, "a dead worker's jobs are first in line"),
            Err(error) => tracing::debug!(error = %error, "cannot look for dead workers' jobs"),
        }
    }
}

/// `{host}-{pid}-{random}`: unique per process start, readable in logs.
fn worker_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}-{}", fleet::host_name(), std::process::id(), &random[..8])
}

/// The apalis handler. The payload arrives as JSON (or not) and is decoded here, so that an
/// unreadable one is a clear error in the dead set rather than a failure that stops the pool.
///
/// The job itself runs as a task of its own ([`Running`]): if the pool dies (its queue gone),
/// apalis drops this handler, but the job runs on, offers its result until the queue is back
/// and marks itself done, instead of being thrown away and run again from the start.
async fn handle(
    payload: Payload,
    fleet: Data<Arc<Fleet>>,
    attempt: Attempt,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    let job = job_of(payload).map_err(|error| {
        tracing::error!(error, "unreadable job sent to the dead set");
        AbortError::new(error)
    })?;
    let pair = job.pair().cloned();
    let span = tracing::info_span!(
        "job",
        job_id = %job.job_id,
        run_id = %job.run_id,
        symbol = pair.as_ref().map(|p| tracing::field::display(&p.symbol)),
        timeframe = pair.as_ref().map(|p| tracing::field::display(p.timeframe)),
        attempt = attempt.current(),
    );
    fleet::telemetry::adopt_parent(&span, job.traceparent.as_deref());
    let (fleet, worker_name, attempt) = (Arc::clone(&fleet), worker.name().to_owned(), attempt.current());
    let (report, outcome) = tokio::sync::oneshot::channel();
    let running = fleet.running.clone();
    running.spawn(
        async move {
            let job_id = job.job_id;
            let outcome = fleet.run_measured(job, attempt).await;
            let Err(unheard) = report.send(outcome) else { return };
            match unheard {
                Ok(_) => match fleet.queue.finish_abandoned(job_id, &worker_name).await {
                    Ok(true) => tracing::info!("job finished after its job pool stopped; marked done"),
                    Ok(false) => {
                        tracing::warn!("job finished after another worker took it back; it runs again")
                    }
                    Err(error) => tracing::warn!(error = %error, "cannot mark the job done; it runs again"),
                },
                Err(error) => {
                    tracing::warn!(error = %error, "job failed after its job pool stopped; it runs again");
                }
            }
        }
        .instrument(span),
    );
    outcome.await.map_err(|_| "the job's task ended without an outcome")?.map(|_| ())
}

/// What a job's handler published.
enum Published {
    /// The job's outcome (which may say "no model").
    Outcome,
    /// A failure, after the last attempt or for a reason that will not pass.
    Failure,
}

impl Fleet {
    /// [`Self::run_job`], counted and timed in the metrics.
    async fn run_measured(&self, job: Job, attempt: usize) -> Result<Published, BoxDynError> {
        let kind = Kind { kind: job.kind_name() };
        self.metrics.started.get_or_create(&kind).inc();
        self.metrics.in_flight.inc();
        let clock = Instant::now();
        let outcome = self.run_job(job, attempt).await;
        self.metrics.in_flight.dec();
        self.metrics.duration.get_or_create(&kind).observe(clock.elapsed().as_secs_f64());
        let label = match &outcome {
            Ok(Published::Outcome) => "succeeded",
            Ok(Published::Failure) => "failed",
            Err(_) => "retried",
        };
        self.metrics.finished.get_or_create(&KindOutcome { kind: kind.kind, outcome: label }).inc();
        outcome
    }

    async fn run_job(&self, job: Job, attempt: usize) -> Result<Published, BoxDynError> {
        let started_at = Utc::now();
        tracing::info!("job started");
        let outcome = match &job.kind {
            JobKind::Train { pair, snapshot, config } => {
                let status =
                    self.train(pair, snapshot, config).await.map(|(artifact, evaluation, promotion)| {
                        let promotion_note = match promotion {
                            Promotion::Promoted => None,
                            Promotion::Superseded { latest } => {
                                Some(format!("not promoted: a newer model {latest} is latest"))
                            }
                            Promotion::Candidate { reason } => Some(reason),
                        };
                        TrainStatus::Succeeded {
                            artifact,
                            evaluation,
                            promoted: promotion_note.is_none(),
                            promotion_note,
                        }
                    });
                status.map(|status| Outcome::Train {
                    pair: pair.clone(),
                    snapshot: snapshot.clone(),
                    config_sha256: config_sha256(config),
                    status,
                })
            }
            JobKind::Forecast { pair, snapshot } => self
                .forecast(pair, snapshot)
                .await
                .map(|status| Outcome::Forecast { pair: pair.clone(), status }),
            JobKind::Ping => Ok(Outcome::Ping),
        };
        let (outcome, published) = match outcome {
            Ok(outcome) => (outcome, Published::Outcome),
            Err(error) if error.is_retryable() && attempt < MAX_ATTEMPTS => {
                tracing::warn!(error = %error, "job failed for a reason that may pass; the queue retries it");
                return Err(error.into());
            }
            Err(error) => {
                tracing::error!(error = %error, "job failed");
                if let Some(key) = &job.idempotency_key {
                    // A failed job must not block the next trigger of the same work.
                    self.queue.release(key).await?;
                }
                (failed(&job.kind, error.to_string()), Published::Failure)
            }
        };
        let result = JobResult {
            schema_version: JOB_SCHEMA_VERSION,
            job_id: job.job_id,
            run_id: job.run_id,
            worker_id: Some(self.worker_id.clone()),
            started_at: Some(started_at),
            finished_at: Utc::now(),
            outcome,
        };
        self.publish_patiently(&result).await?;
        tracing::info!(seconds = (result.finished_at - started_at).as_seconds_f64(), "job finished");
        Ok(published)
    }

    /// Publishes a result, waiting up to [`RESULT_PATIENCE`] for a queue that is away. Past
    /// that the error goes to apalis, and the job runs again once its queue is back.
    async fn publish_patiently(&self, result: &JobResult) -> Result<(), QueueError> {
        let started = Instant::now();
        let mut backoff = Backoff::up_to(RESULT_RETRY_MAX);
        let mut failed_offers = 0_u32;
        loop {
            match self.results.publish(std::slice::from_ref(result)).await {
                Ok(()) => {
                    if failed_offers > 0 {
                        let waited_secs = started.elapsed().as_secs_f64();
                        tracing::info!(
                            waited_secs,
                            failed_offers,
                            "result published once the queue was back"
                        );
                    }
                    return Ok(());
                }
                Err(error) if error.is_retryable() && started.elapsed() < RESULT_PATIENCE => {
                    if failed_offers == 0 {
                        tracing::warn!(
                            error = %error,
                            patience_secs = RESULT_PATIENCE.as_secs(),
                            "cannot publish the job's result; keeping it until the queue is back"
                        );
                    }
                    failed_offers += 1;
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn train(
        &self,
        pair: &Pair,
        snapshot: &Snapshot,
        config: &TrainConfig,
    ) -> Result<(ArtifactRef, Box<Evaluation>, Promotion), JobError> {
        let bars = self.store.get_snapshot(snapshot).await?;
        let series = BarSeries { symbol: pair.symbol.clone(), timeframe: pair.timeframe, bars };
        let mut config = config.clone();
        config.threads = self.train_threads;
        // Training is CPU-bound for seconds: off the async runtime, so heartbeats keep going.
        let trained = tokio::task::spawn_blocking(move || model::train(&series, &config, Utc::now()))
            .await
            .map_err(|e| JobError::Panicked(e.to_string()))??;
        let manifest = &trained.artifact.manifest;
        let clock = Instant::now();
        let uri = self.store.put_model(manifest, &trained.bytes).await?;
        self.metrics.upload_seconds.observe(clock.elapsed().as_secs_f64());
        let bytes = trained.bytes.payload.len() + trained.bytes.manifest.len();
        self.metrics.upload_bytes.inc_by(u64::try_from(bytes).unwrap_or(u64::MAX));
        let promotion =
            self.store.promote(manifest, &trained.bytes, &self.promotion, self.max_model_age).await?;
        tracing::info!(version = manifest.version, ?promotion, "model stored");
        let artifact = ArtifactRef { uri, version: manifest.version.clone() };
        Ok((artifact, Box::new(manifest.evaluation.clone()), promotion))
    }

    async fn forecast(&self, pair: &Pair, snapshot: &Snapshot) -> Result<ForecastStatus, JobError> {
        let Some(latest) = self.store.latest(pair).await? else {
            return Ok(ForecastStatus::NoModel {
                reason: format!("no trained model for {pair}: run `boltfleet train` first"),
            });
        };
        if let Err(expired) =
            lifecycle::check_age(&latest.version, latest.created_at, Utc::now(), self.max_model_age)
        {
            return Ok(ForecastStatus::NoModel { reason: format!("{pair}: {expired}") });
        }
        let model = match self.models.get(&latest.version, &latest.payload_sha256) {
            Some(model) => {
                self.metrics.model_cache.get_or_create(&CacheLookup { result: "hit" }).inc();
                model
            }
            None => {
                self.metrics.model_cache.get_or_create(&CacheLookup { result: "miss" }).inc();
                let bytes = self.store.get_latest_model(pair, &latest).await?;
                let version = latest.version.clone();
                let artifact = tokio::task::spawn_blocking(move || {
                    Artifact::decode(&bytes).map_err(|source| JobError::Artifact { version, source })
                })
                .await
                .map_err(|e| JobError::Panicked(e.to_string()))??;
                // Kept under the hash its manifest vouched for, so a pointer naming another
                // payload under this version misses.
                let model = Arc::new(artifact.model);
                self.models.insert(&latest.version, &artifact.manifest.payload_sha256, Arc::clone(&model));
                model
            }
        };
        let bars = self.store.get_snapshot(snapshot).await?;
        let version = latest.version;
        let forecast = tokio::task::spawn_blocking(move || {
            let forecast = model::predict(&model, &bars)?;
            Ok::<_, JobError>(ForecastStatus::Predicted { forecast, artifact_version: version })
        })
        .await
        .map_err(|e| JobError::Panicked(e.to_string()))??;
        Ok(forecast)
    }
}

fn failed(kind: &JobKind, error: String) -> Outcome {
    match kind {
        JobKind::Train { pair, snapshot, config } => Outcome::Train {
            pair: pair.clone(),
            snapshot: snapshot.clone(),
            config_sha256: config_sha256(config),
            status: TrainStatus::Failed { error },
        },
        JobKind::Forecast { pair, .. } => {
            Outcome::Forecast { pair: pair.clone(), status: ForecastStatus::Failed { error } }
        }
        JobKind::Ping => Outcome::Ping,
    }
}
