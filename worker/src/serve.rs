//! The worker role: pull jobs from the queue (Redis, or SQLite in embedded mode), train and
//! forecast, publish results, until the role's [`Shutdown`] is triggered.
//!
//! Every job ends in exactly one published result, whatever happens to it, except a payload
//! the worker cannot read: that job goes to the queue's dead set, with the error, for a human.
//! A failure that may pass is handed back to the queue, which tries the job again, up to
//! [`MAX_ATTEMPTS`]; then it is published as failed. A store this worker cannot reach is not
//! the job's fault: the job goes back first in line for another worker, not counted as an
//! attempt, and this worker takes no job until it reaches its store again.
//!
//! The job pool is `pool.rs`; this file is what a job does, and the tasks beside the pool
//! (heartbeat, orphan rule, store probe, queue-depth gauge).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use fleet::backoff::Backoff;
use fleet::config::{QueueConfig, StoreConfig};
use fleet::lifecycle::{self, PromotionPolicy};
use fleet::ops::{Ops, OpsConfig};
use fleet::queue::{self, Queue, QueueError, Settlement, Taken, Verdict};
use fleet::shutdown::Shutdown;
use fleet::store::{ArtifactStore, Promotion, ReadPointer, StoreError};
use ml_core::ingest::BarSeries;
use ml_core::job::{
    ArtifactRef, ForecastStatus, JOB_SCHEMA_VERSION, Job, JobKind, JobResult, LastBarFeatures, Outcome, Pair,
    Snapshot, TrainStatus, config_sha256,
};
use ml_core::model::artifact::{self, ArtifactError, Model};
use ml_core::model::{self, Evaluation, LastBar, ModelError, TrainConfig};
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::Instrument;

use crate::metrics::{CacheLookup, Kind, KindOutcome, WorkerMetrics};
use crate::model_cache::ModelCache;
use crate::payload::decode_job;
use crate::pointers::Pointers;
use crate::pool::{Pool, QUEUE_PATIENCE, RETRY_MAX};
use crate::running::Running;
use crate::snapshot_cache::{ForecastInputs, SnapshotCache};

/// Attempts of a job that keeps failing for a reason that may pass, before it is reported
/// failed. A failed attempt runs again `attempt` seconds later, so 12 attempts wait
/// 1 + 2 + ... + 11 = 66 s in all (5 attempts gave up after about 11 s).
const MAX_ATTEMPTS: u32 = 12;

/// What a decoded model weighs in the model cache per byte of its stored (compressed)
/// payload: the worker's memory grew by about this much per payload byte when it decoded
/// a fleet's models (docs/benchmarks.md, issue 27's scale benchmark).
const DECODED_BYTES_PER_PAYLOAD_BYTE: usize = 8;

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
    /// Memory for decoded models kept for forecasts, the most recently used, in MiB; 0
    /// decodes the artifact for every forecast.
    pub model_cache_mib: usize,
    pub promotion: PromotionPolicy,
    pub ops: OpsConfig,
    /// Once stopped, how long in-flight jobs may run on before `run` returns; jobs still
    /// running then go back to the queue, first in line.
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
            model_cache_mib: 512,
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
}

impl WorkerError {
    /// A store or queue that is away may be back for the next start (its supervisor's
    /// restart). A taken metrics address, a misconfigured store or a queue that refuses the
    /// worker's commands is the same at every start.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(error) => error.is_retryable(),
            Self::Queue(error) => error.is_retryable(),
            Self::Ops(_) => false,
        }
    }
}

/// What every job needs: the store, the queue and the settings.
#[derive(Debug)]
struct Fleet {
    store: ArtifactStore,
    queue: Queue,
    worker_id: String,
    train_threads: usize,
    max_model_age: chrono::Duration,
    models: ModelCache<Model>,
    snapshots: SnapshotCache,
    /// The pointers its forecasts read, asked again only whether they moved.
    pointers: Pointers,
    promotion: PromotionPolicy,
    metrics: WorkerMetrics,
    ops: Ops,
    /// `Some(why)` while this worker takes no job: its store is unreachable.
    pause: watch::Sender<Option<String>>,
}

/// Why a job did not produce its outcome.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
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
    #[error("another worker holds this job now: this worker was taken for dead while it ran it")]
    TakenOver,
}

impl JobError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Queue(e) => e.is_retryable(),
            Self::Model(e) => e.is_retryable(),
            Self::Artifact { .. } | Self::Panicked(_) | Self::TakenOver => false,
        }
    }
}

/// Takes jobs until `shutdown` is triggered, then lets in-flight jobs finish for up to
/// `shutdown_timeout_secs`; returns once the worker's own tasks (heartbeat, orphan rule,
/// store probe, queue-depth gauge, metrics server) have ended too.
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
        queue: queue.clone(),
        worker_id: worker_id.clone(),
        train_threads,
        max_model_age: chrono::Duration::days(args.max_model_age_days.into()),
        models: ModelCache::new(args.model_cache_mib << 20),
        snapshots: SnapshotCache::default(),
        pointers: Pointers::default(),
        promotion: args.promotion,
        metrics,
        ops: ops.clone(),
        pause: watch::Sender::new(None),
    });
    // In the workers' list before it holds any job, where the orphan rule looks for them.
    queue.beat(&worker_id).await?;
    // The heartbeat outlives the shutdown signal: jobs finishing in the grace period are
    // still this worker's.
    let pool_ended = Shutdown::new();
    shutdown.spawn(beat(args.queue.clone(), worker_id.clone(), pool_ended.clone()));
    shutdown.spawn(sample_queue_depth(fleet.clone(), shutdown.clone()));
    shutdown.spawn(take_over_orphans(fleet.clone(), shutdown.clone()));
    shutdown.spawn(probe_store(fleet.clone(), shutdown.clone()));
    tracing::info!(worker_id, concurrency, train_threads, artifacts = fleet.store.url(), "worker started");
    ops.set_ready(true);
    let pool = Pool {
        queue,
        worker_id,
        concurrency,
        paused: fleet.pause.subscribe(),
        run: move |taken| Arc::clone(&fleet).run(taken),
        running: Running::default(),
    };
    let outcome = pool.run(shutdown, Duration::from_secs(args.shutdown_timeout_secs)).await;
    pool_ended.trigger();
    ops.set_ready(false);
    outcome?;
    tracing::info!("worker stopped");
    Ok(())
}

/// Marks the worker alive every [`queue::HEARTBEAT`], on a connection of its own, until
/// `until`. A beat that gets no answer within a heartbeat drops that connection for a fresh
/// one: a stalled TCP connection on a lossy link once held a beat back for 11 s, and the
/// worker was taken for dead while it trained.
async fn beat(args: QueueConfig, worker_id: String, until: Shutdown) {
    let mut link: Option<Queue> = None;
    let mut last_beat = Instant::now();
    let mut warned = false;
    let mut tick = tokio::time::interval(queue::HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while until.tick(&mut tick).await {
        let attempt = async {
            let queue = match &link {
                Some(queue) => queue.clone(),
                None => Queue::connect_for_beats(&args).await?,
            };
            let known = queue.beat(&worker_id).await?;
            Ok::<_, QueueError>((queue, known))
        };
        let silent_secs = last_beat.elapsed().as_secs_f64();
        match tokio::time::timeout(queue::HEARTBEAT, attempt).await {
            Ok(Ok((queue, known))) => {
                link = Some(queue);
                last_beat = Instant::now();
                if !known {
                    tracing::warn!(
                        silent_secs,
                        "this worker was taken for dead: the jobs it runs now are other workers', \
                         and their results here will be dropped"
                    );
                } else if std::mem::take(&mut warned) {
                    tracing::info!(silent_secs, "heartbeat back");
                }
            }
            failed => {
                link = None;
                if !warned && last_beat.elapsed() >= queue::DEAD_AFTER / 3 {
                    let error =
                        failed.map_or_else(|_| "no answer".to_owned(), |e| e.unwrap_err().to_string());
                    tracing::warn!(silent_secs, error, "cannot beat: this worker may soon be taken for dead");
                    warned = true;
                }
            }
        }
    }
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
/// [`TAKE_OVER_INTERVAL`].
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

/// How often a paused worker tries its store again.
const STORE_PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// While the worker is paused for its store, lists the store's root every
/// [`STORE_PROBE_INTERVAL`]; the first answer lifts the pause.
async fn probe_store(fleet: Arc<Fleet>, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(STORE_PROBE_INTERVAL);
    while shutdown.tick(&mut tick).await {
        if fleet.pause.borrow().is_none() {
            continue;
        }
        if let Ok(Ok(_)) = tokio::time::timeout(STORE_PROBE_INTERVAL, fleet.store.browse("")).await {
            fleet.pause.send_replace(None);
            fleet.metrics.paused.set(0);
            fleet.ops.set_ready(true);
            tracing::info!(artifacts = fleet.store.url(), "the artifact store answers again: taking jobs");
        }
    }
}

/// `{host}-{pid}-{random}`: unique per process start, readable in logs.
fn worker_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}-{}", fleet::host_name(), std::process::id(), &random[..8])
}

/// How a job ended for this worker, before the queue hears of it.
enum Ending {
    /// A result to publish: the job's outcome, or its failure (`failed`) after its last
    /// attempt or for a reason that will not pass.
    Finished { result: Box<JobResult>, failed: bool },
    /// Failed for a reason that may pass: the queue runs it again, `after` from now.
    Retry { after: Duration },
    /// This worker cannot run it now (its store unreachable): back to the queue.
    Back,
    /// Another worker holds the job now: nothing to say about it.
    TakenOver,
}

impl Fleet {
    /// Runs a job the pool took, to the settlement the queue gets (none if another worker
    /// holds the job by then).
    async fn run(self: Arc<Self>, taken: Taken) -> Option<Settlement> {
        let settle = |verdict, result| Some(Settlement { task_id: taken.task_id.clone(), verdict, result });
        let job = match decode_job(&taken.payload) {
            Ok(job) => job,
            Err(reason) => {
                tracing::error!(
                    task_id = taken.task_id,
                    error = reason,
                    "unreadable job sent to the dead set"
                );
                return settle(Verdict::Dead { reason }, None);
            }
        };
        let pair = job.pair().cloned();
        let span = tracing::info_span!(
            "job",
            job_id = %job.job_id,
            run_id = %job.run_id,
            symbol = pair.as_ref().map(|p| tracing::field::display(&p.symbol)),
            timeframe = pair.as_ref().map(|p| tracing::field::display(p.timeframe)),
            attempt = taken.attempt,
        );
        fleet::telemetry::adopt_parent(&span, job.traceparent.as_deref());
        match self.run_measured(job, &taken).instrument(span).await {
            Ending::Finished { result, .. } => {
                let json = serde_json::to_string(&result).expect("a result serialises");
                settle(Verdict::Done, Some(json))
            }
            Ending::Retry { after } => settle(Verdict::Retry { after }, None),
            Ending::Back => settle(Verdict::Back, None),
            Ending::TakenOver => None,
        }
    }

    /// [`Self::run_job`], counted and timed in the metrics.
    async fn run_measured(&self, job: Job, taken: &Taken) -> Ending {
        let kind = Kind { kind: job.kind_name() };
        self.metrics.started.get_or_create(&kind).inc();
        self.metrics.in_flight.inc();
        let clock = Instant::now();
        let ending = self.run_job(job, taken).await;
        self.metrics.in_flight.dec();
        self.metrics.duration.get_or_create(&kind).observe(clock.elapsed().as_secs_f64());
        let label = match &ending {
            Ending::Finished { failed: false, .. } => "succeeded",
            Ending::Finished { failed: true, .. } => "failed",
            Ending::Retry { .. } => "retried",
            Ending::Back => "handed_back",
            Ending::TakenOver => "taken_over",
        };
        self.metrics.finished.get_or_create(&KindOutcome { kind: kind.kind, outcome: label }).inc();
        ending
    }

    async fn run_job(&self, job: Job, taken: &Taken) -> Ending {
        let started_at = Utc::now();
        tracing::info!("job started");
        let outcome = match &job.kind {
            JobKind::Train { pair, snapshot, config } => {
                let status = self.train(pair, snapshot, config, &taken.task_id).await.map(
                    |(artifact, evaluation, promotion)| {
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
                    },
                );
                status.map(|status| Outcome::Train {
                    pair: pair.clone(),
                    snapshot: snapshot.clone(),
                    config_sha256: config_sha256(config),
                    status,
                })
            }
            JobKind::Forecast { pair, snapshot, last_bar } => self
                .forecast(pair, snapshot, last_bar.as_ref())
                .await
                .map(|status| Outcome::Forecast { pair: pair.clone(), status }),
            JobKind::Ping => Ok(Outcome::Ping),
        };
        let (outcome, failed) = match outcome {
            Ok(outcome) => (outcome, false),
            Err(JobError::TakenOver) => {
                tracing::warn!(
                    "job taken over by another worker while this one ran it: not promoted, no result"
                );
                return Ending::TakenOver;
            }
            Err(JobError::Store(error)) if error.is_unreachable() => {
                self.pause_for_store(&error);
                return Ending::Back;
            }
            Err(error) if error.is_retryable() && taken.attempt < MAX_ATTEMPTS => {
                tracing::warn!(error = %error, "job failed for a reason that may pass; the queue retries it");
                return Ending::Retry { after: Duration::from_secs(taken.attempt.into()) };
            }
            Err(error) => {
                tracing::error!(error = %error, "job failed");
                if let Some(key) = &job.idempotency_key {
                    // A failed job must not block the next trigger of the same work.
                    if let Err(error) = self.queue.release(key).await {
                        tracing::warn!(error = %error, "cannot free the job's idempotency key; the job runs again");
                        return Ending::Retry { after: Duration::from_secs(taken.attempt.into()) };
                    }
                }
                (failed_outcome(&job.kind, error.to_string()), true)
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
        tracing::info!(seconds = (result.finished_at - started_at).as_seconds_f64(), "job finished");
        Ending::Finished { result: Box::new(result), failed }
    }

    /// Whether this worker still holds a job, asked until the queue answers (for as long as
    /// the pool waits for it): a model trained during a Redis restart is not thrown away
    /// because nobody could say whose the job was.
    async fn still_holds(&self, task_id: &str) -> Result<bool, QueueError> {
        let started = Instant::now();
        let mut backoff = Backoff::up_to(RETRY_MAX);
        let mut said = false;
        loop {
            match self.queue.holds(&self.worker_id, task_id).await {
                Err(error) if error.is_retryable() && started.elapsed() < QUEUE_PATIENCE => {
                    if !std::mem::replace(&mut said, true) {
                        tracing::warn!(
                            error = %error,
                            "the queue is away: the trained model waits to learn whether this worker still holds the job"
                        );
                    }
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                answer => return answer,
            }
        }
    }

    /// Stops the pool taking jobs until [`probe_store`] reaches the store again; the worker
    /// reads not ready meanwhile.
    fn pause_for_store(&self, error: &StoreError) {
        let reason = format!("the artifact store is unreachable from this worker: {error}");
        let paused =
            self.pause.send_if_modified(|pause| pause.is_none() && pause.replace(reason.clone()).is_none());
        if paused {
            tracing::warn!(
                reason,
                "this worker takes no job until it reaches its store again; the job goes back to the queue for another"
            );
            self.metrics.paused.set(1);
            self.ops.set_ready(false);
        }
    }

    async fn train(
        &self,
        pair: &Pair,
        snapshot: &Snapshot,
        config: &TrainConfig,
        task_id: &str,
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
        // A worker taken for dead while it trained (frozen, cut off) no longer holds the job:
        // the worker that does promotes its own model and publishes its row, so that the row
        // and latest.json name the same model.
        if !self.still_holds(task_id).await? {
            return Err(JobError::TakenOver);
        }
        let promotion =
            self.store.promote(manifest, &trained.bytes, &self.promotion, self.max_model_age).await?;
        tracing::info!(version = manifest.version, ?promotion, "model stored");
        let artifact = ArtifactRef { uri, version: manifest.version.clone() };
        Ok((artifact, Box::new(manifest.evaluation.clone()), promotion))
    }

    async fn forecast(
        &self,
        pair: &Pair,
        snapshot: &Snapshot,
        last_bar: Option<&LastBarFeatures>,
    ) -> Result<ForecastStatus, JobError> {
        let read = self.store.latest_since(pair, self.pointers.get(pair).as_ref()).await?;
        self.pointers.keep(pair, read.as_ref());
        let Some(ReadPointer { pointer: latest, .. }) = read else {
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
                let payload = self.store.get_payload(pair, &latest.version).await?;
                let payload_bytes = payload.len();
                let (version, payload_sha256) = (latest.version.clone(), latest.payload_sha256.clone());
                let model = tokio::task::spawn_blocking(move || {
                    artifact::decode_payload(&payload, &payload_sha256)
                        .map_err(|source| JobError::Artifact { version, source })
                })
                .await
                .map_err(|e| JobError::Panicked(e.to_string()))??;
                // Kept under the hash the payload was checked against, so a pointer naming
                // another payload under this version misses.
                let model = Arc::new(model);
                let weight = payload_bytes * DECODED_BYTES_PER_PAYLOAD_BYTE;
                self.models.insert(&latest.version, &latest.payload_sha256, weight, Arc::clone(&model));
                model
            }
        };
        // The features the job carries, unless a trigger of another feature schema computed
        // them (or could not): then those of the snapshot.
        let inputs = match last_bar.and_then(LastBarFeatures::last_bar) {
            Some(last_bar) => Inputs::Carried(last_bar),
            None => Inputs::Snapshot(self.snapshots.get(&self.store, snapshot).await?),
        };
        let (pair, key) = (pair.clone(), snapshot.key.clone());
        let version = latest.version;
        let forecast = tokio::task::spawn_blocking(move || {
            let last_bar = match inputs {
                Inputs::Carried(last_bar) => last_bar,
                Inputs::Snapshot(inputs) => {
                    let Some(last_bar) = inputs.last_bar(&pair) else {
                        let detail = format!("holds no bars of {pair}");
                        return Err(StoreError::Corrupt { key, detail }.into());
                    };
                    last_bar?
                }
            };
            let forecast = model::predict_at(&model, &last_bar)?;
            Ok::<_, JobError>(ForecastStatus::Predicted { forecast, artifact_version: version })
        })
        .await
        .map_err(|e| JobError::Panicked(e.to_string()))??;
        Ok(forecast)
    }
}

/// What a forecast predicts from: its job's features, or its snapshot's bars.
enum Inputs {
    Carried(LastBar),
    Snapshot(Arc<ForecastInputs>),
}

fn failed_outcome(kind: &JobKind, error: String) -> Outcome {
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
