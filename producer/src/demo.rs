//! `producer demo`: the whole fleet in one process, on embedded backends, with no server.
//!
//! The queue and the results outbox are a SQLite file (apalis-sqlite), the results database
//! another (the same tables as Postgres), and the artifacts a folder, all under one data
//! directory that the next run reuses. The workers and the collector are the real ones
//! (`worker::serve`, `collector::collect`) as tasks of this process, and the run is the real
//! `producer ingest`, `train --wait` and `forecast --wait`: only the backends differ from a
//! cluster's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use fleet::config::{DatabaseArgs, QueueArgs, StoreArgs, TrainingArgs, sqlite_url};
use fleet::ops::OpsArgs;
use fleet::queue::Queue;
use tokio::sync::watch;

use crate::ingest::IngestArgs;
use crate::trigger::{ForecastArgs, PairArgs, Services, TrainArgs};
use crate::wait::WaitArgs;

/// The sample bars shipped with the repository, for a `cargo run` from this checkout.
const SAMPLE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/sample");

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the queue, the results database and the artifacts live; the next run reuses it.
    #[arg(long, env = "BOLTFLEET_DATA_DIR", default_value = "boltfleet-data")]
    data_dir: PathBuf,
    /// Workers run in this process, one job each at a time.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Bar files to ingest (default: every file in the samples folder).
    files: Vec<PathBuf>,
    /// The samples folder: the repository's data/sample (the image has its own copy).
    #[arg(long, env = "BOLTFLEET_SAMPLES", default_value = SAMPLE_DIR)]
    samples: PathBuf,
    #[command(flatten)]
    pairs: PairArgs,
    #[command(flatten)]
    training: TrainingArgs,
    /// Give up waiting for a run after this many seconds.
    #[arg(long, default_value_t = 7200)]
    timeout_secs: u64,
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create the data directory {}", args.data_dir.display()))?;
    let data_dir = args.data_dir.canonicalize()?;
    let files = if args.files.is_empty() { sample_files(&args.samples)? } else { args.files.clone() };
    let services = embedded_services(&data_dir);
    tracing::info!(data_dir = %data_dir.display(), workers = args.workers, "embedded fleet starting");
    collector::migrate(&services.database).await?;

    let ingest = IngestArgs {
        check: false,
        database_url: Some(services.database.database_url.clone()),
        json: false,
        read: crate::ReadArgs::default(),
        files,
    };
    if crate::ingest::run(ingest).await? != ExitCode::SUCCESS {
        anyhow::bail!("a bar file could not be used (see its report above)");
    }

    let fleet = Fleet::start(&services, args.workers);
    let run = async {
        let wait = || WaitArgs::until(args.timeout_secs);
        let train = TrainArgs {
            pairs: args.pairs.clone(),
            services: services.clone(),
            training: args.training.clone(),
            force: false,
            wait: wait(),
        };
        let trained = crate::trigger::train(train).await?;
        let forecast =
            ForecastArgs { pairs: args.pairs.clone(), services: services.clone(), bars: 500, wait: wait() };
        let forecasted = crate::trigger::forecast(forecast).await?;
        anyhow::Ok(if trained == ExitCode::SUCCESS { forecasted } else { trained })
    };
    let outcome = tokio::select! {
        outcome = run => outcome,
        signal = fleet::shutdown_signal() => signal.map(|()| ExitCode::FAILURE).map_err(Into::into),
    };
    fleet.stop(&services).await?;
    println!(
        "data in {}: queue.db, fleet.db (the results tables), artifacts/ (models and bar snapshots)",
        data_dir.display()
    );
    outcome
}

/// The embedded backends under `data_dir`.
fn embedded_services(data_dir: &Path) -> Services {
    Services {
        database: DatabaseArgs { database_url: sqlite_url(&data_dir.join("fleet.db")) },
        queue: QueueArgs::sqlite(&data_dir.join("queue.db"), "boltfleet"),
        store: StoreArgs::folder(&data_dir.join("artifacts")),
    }
}

fn sample_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let missing = || format!("no sample bars at {}: name bar files to ingest", dir.display());
    let dir = dir.canonicalize().with_context(missing)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(missing)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.to_string_lossy().contains(".csv"))
        .collect();
    files.sort();
    Ok(files)
}

/// How long the stopping collector may take to write the results the workers left.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

type Task = tokio::task::JoinHandle<anyhow::Result<()>>;

/// The collector and the workers, as tasks of this process.
struct Fleet {
    collector: (watch::Sender<bool>, Task),
    workers: (watch::Sender<bool>, Vec<Task>),
}

impl Fleet {
    fn start(services: &Services, workers: usize) -> Self {
        // Operators' endpoints on free loopback ports: nothing is exposed, nothing clashes.
        let ops = OpsArgs::loopback_any_port;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let collector = collector::RunArgs {
            database: services.database.clone(),
            queue: services.queue.clone(),
            batch_size: 1000,
            name: Some("demo".to_owned()),
            ops: ops(),
        };
        let (stop_collector, collector_stopped) = watch::channel(false);
        let collector = tokio::spawn(collector::collect(collector, until(collector_stopped)));
        let (stop_workers, workers_stopped) = watch::channel(false);
        let workers = (0..workers.max(1))
            .map(|_| {
                let worker = worker::RunArgs {
                    queue: services.queue.clone(),
                    store: services.store.clone(),
                    concurrency: Some(1),
                    train_threads: Some((cores / workers.max(1)).max(1)),
                    max_model_age_days: worker::DEFAULT_MAX_MODEL_AGE_DAYS,
                    model_cache_size: worker::DEFAULT_MODEL_CACHE_SIZE,
                    promotion: fleet::lifecycle::PromotionArgs::default(),
                    ops: ops(),
                    shutdown_timeout_secs: 60,
                };
                tokio::spawn(worker::serve(worker, until(workers_stopped.clone())))
            })
            .collect();
        Self { collector: (stop_collector, collector), workers: (stop_workers, workers) }
    }

    /// Stops the workers (their jobs in hand finish), lets the collector write the results
    /// they published, then stops it: an interrupted demo leaves no result unwritten.
    async fn stop(self, services: &Services) -> anyhow::Result<()> {
        let (stop_workers, workers) = self.workers;
        let _ = stop_workers.send(true);
        for worker in workers {
            worker.await?.context("an in-process worker failed")?;
        }
        let queue = Queue::connect(&services.queue).await?;
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while fleet::results::backlog(&queue).await? > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            anyhow::Ok(())
        });
        match drained.await {
            Ok(drained) => drained?,
            Err(_) => tracing::warn!("results not all written yet: the next run's collector writes them"),
        }
        let (stop_collector, collector) = self.collector;
        let _ = stop_collector.send(true);
        collector.await?.context("the in-process collector failed")
    }
}

/// Resolves when `stopped` turns true.
async fn until(mut stopped: watch::Receiver<bool>) -> std::io::Result<()> {
    let _ = stopped.wait_for(|stop| *stop).await;
    Ok(())
}
