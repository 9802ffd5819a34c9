//! `producer train`, `producer forecast` and `producer ping`: one run, one job per pair.
//!
//! For each pair the bars are frozen into a content-addressed Parquet snapshot in the store,
//! and the job names it: workers need no database, and every artifact names its data.

use std::process::ExitCode;

use anyhow::Context;
use apalis_redis::ConnectionManager;
use chrono::Utc;
use clap::Args;
use fleet::config::{DatabaseArgs, RedisArgs, StoreArgs, TrainingArgs};
use fleet::queue;
use fleet::results::ResultsPublisher;
use fleet::store::ArtifactStore;
use shared::job::{
    JOB_SCHEMA_VERSION, Job, JobKind, JobResult, Outcome, Pair, TrainStatus, config_sha256,
    train_idempotency_key,
};
use shared::{Symbol, Timeframe};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::wait::{self, Expected, RunKind, WaitArgs};

/// Which pairs a trigger covers.
#[derive(Debug, Args)]
pub(crate) struct PairArgs {
    /// Symbols, comma-separated (default: every symbol with bars).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<Symbol>,
    /// Timeframes, comma-separated (default: every timeframe with bars).
    #[arg(long, value_delimiter = ',')]
    timeframes: Vec<Timeframe>,
}

/// The services a trigger talks to.
#[derive(Debug, Args)]
pub(crate) struct Services {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    redis: RedisArgs,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    #[command(flatten)]
    pairs: PairArgs,
    #[command(flatten)]
    services: Services,
    #[command(flatten)]
    training: TrainingArgs,
    /// Retrain pairs whose data and configuration were already trained on.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ForecastArgs {
    #[command(flatten)]
    pairs: PairArgs,
    #[command(flatten)]
    services: Services,
    /// Most recent bars sent with each forecast job (features need 69 at least).
    #[arg(long, default_value_t = 500)]
    bars: usize,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PingArgs {
    /// No-op jobs to send.
    #[arg(long, default_value_t = 1)]
    count: usize,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    redis: RedisArgs,
    #[command(flatten)]
    wait: WaitArgs,
}

/// Connections of one trigger.
struct Trigger {
    pool: PgPool,
    conn: ConnectionManager,
    queue: apalis_redis::Config,
    results: ResultsPublisher,
    run_id: Uuid,
}

impl Trigger {
    async fn open(database: &DatabaseArgs, redis: &RedisArgs) -> anyhow::Result<Self> {
        let pool = db::connect(database).await?;
        let conn = queue::connect(redis).await.context("cannot connect to REDIS_URL")?;
        let run_id = Uuid::new_v4();
        tracing::info!(%run_id, "run started");
        Ok(Self {
            pool,
            results: ResultsPublisher::new(conn.clone(), &redis.queue_prefix),
            queue: queue::jobs_config(&redis.queue_prefix, 1),
            conn,
            run_id,
        })
    }

    async fn pairs(&self, args: &PairArgs) -> anyhow::Result<Vec<Pair>> {
        let pairs = db::pairs(&self.pool, &args.symbols, &args.timeframes).await?;
        anyhow::ensure!(!pairs.is_empty(), "no bars for the pairs asked for: run `producer ingest` first");
        Ok(pairs)
    }
}

pub(crate) async fn train(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let store = ArtifactStore::open(&args.services.store)?;
    let mut trigger = Trigger::open(&args.services.database, &args.services.redis).await?;
    let mut expected = Vec::new();
    let mut settled = Vec::new();
    for pair in trigger.pairs(&args.pairs).await? {
        let bars = db::bars(&trigger.pool, &pair, None).await?;
        let parquet = shared::ingest::bars_to_parquet(&bars).context("cannot encode the bars as parquet")?;
        let snapshot = store.put_snapshot(&pair, parquet, &bars).await?;
        let config = args.training.config_for(pair.timeframe);
        let config_hash = config_sha256(&config);
        if !args.force
            && let Some(version) =
                db::up_to_date(&trigger.pool, &pair, &snapshot.sha256, &config_hash).await?
        {
            // Recorded through the collector like any result, so the run's rows are complete.
            let job_id = Uuid::new_v4();
            settled.push(JobResult {
                schema_version: JOB_SCHEMA_VERSION,
                job_id,
                run_id: trigger.run_id,
                worker_id: None,
                started_at: None,
                finished_at: Utc::now(),
                outcome: Outcome::Train {
                    pair: pair.clone(),
                    snapshot,
                    config_sha256: config_hash,
                    status: TrainStatus::UpToDate { artifact_version: Some(version) },
                },
            });
            expected.push(Expected { job_id, pair });
            continue;
        }
        let key = train_idempotency_key(&pair, &snapshot, &config);
        // --force still de-duplicates within the run, not across runs.
        let key = if args.force { format!("{key}:{}", trigger.run_id) } else { key };
        let job =
            Job::new(trigger.run_id, JobKind::Train { pair: pair.clone(), snapshot, config }, Some(key));
        let job_id = job.job_id;
        if queue::push(&mut trigger.conn, &trigger.queue, std::slice::from_ref(&job)).await? == 0 {
            tracing::warn!(%pair, "the same training is already queued by an earlier run; not waiting for it");
            continue;
        }
        expected.push(Expected { job_id, pair });
    }
    trigger.results.publish(&settled).await?;
    tracing::info!(jobs = expected.len() - settled.len(), up_to_date = settled.len(), "run enqueued");
    finish(&mut trigger, RunKind::Train, &expected, &args.wait).await
}

pub(crate) async fn forecast(args: ForecastArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.bars > shared::features::TRAINING_WARM_UP,
        "--bars {} is too few: forecasts need more than {}",
        args.bars,
        shared::features::TRAINING_WARM_UP
    );
    let store = ArtifactStore::open(&args.services.store)?;
    let mut trigger = Trigger::open(&args.services.database, &args.services.redis).await?;
    let (mut jobs, mut expected) = (Vec::new(), Vec::new());
    for pair in trigger.pairs(&args.pairs).await? {
        let bars = db::bars(&trigger.pool, &pair, Some(args.bars)).await?;
        let parquet = shared::ingest::bars_to_parquet(&bars).context("cannot encode the bars as parquet")?;
        let snapshot = store.put_snapshot(&pair, parquet, &bars).await?;
        let job = Job::new(trigger.run_id, JobKind::Forecast { pair: pair.clone(), snapshot }, None);
        expected.push(Expected { job_id: job.job_id, pair });
        jobs.push(job);
    }
    queue::push(&mut trigger.conn, &trigger.queue, &jobs).await?;
    tracing::info!(jobs = expected.len(), "run enqueued");
    finish(&mut trigger, RunKind::Forecast, &expected, &args.wait).await
}

pub(crate) async fn ping(args: PingArgs) -> anyhow::Result<ExitCode> {
    let mut trigger = Trigger::open(&args.database, &args.redis).await?;
    let jobs: Vec<Job> = (0..args.count).map(|_| Job::new(trigger.run_id, JobKind::Ping, None)).collect();
    let started = std::time::Instant::now();
    queue::push(&mut trigger.conn, &trigger.queue, &jobs).await?;
    tracing::info!(jobs = args.count, seconds = started.elapsed().as_secs_f64(), "pings enqueued");
    if !args.wait.wait {
        println!("run {}: {} pings enqueued", trigger.run_id, args.count);
        return Ok(ExitCode::SUCCESS);
    }
    let done = wait::count(&trigger.pool, trigger.run_id, args.count, &args.wait).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "run {}: {done}/{} pings through queue, workers, collector and Postgres in {seconds:.2} s ({:.0} jobs/s)",
        trigger.run_id,
        args.count,
        done as f64 / seconds
    );
    Ok(if done == args.count { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn finish(
    trigger: &mut Trigger,
    kind: RunKind,
    expected: &[Expected],
    args: &WaitArgs,
) -> anyhow::Result<ExitCode> {
    if !args.wait {
        println!("run {}: {} jobs", trigger.run_id, expected.len());
        return Ok(ExitCode::SUCCESS);
    }
    wait::follow(&trigger.pool, &mut trigger.conn, &trigger.queue, kind, trigger.run_id, expected, args).await
}
