//! `boltfleet demo`: the whole fleet in one process, on embedded backends, with no server.
//!
//! The queue and the results outbox are a SQLite file (apalis-sqlite), the results database
//! another (the same tables as Postgres), and the artifacts a folder, all under one data
//! directory ([`EmbeddedLayout`]) that the next run reuses. The workers and the collector are
//! the real roles (`worker::run`, `collector::run`) as tasks of this process, and the run is
//! the real `ingest`, `train --wait` and `forecast --wait`: only the backends differ from a
//! cluster's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use fleet::config::EmbeddedLayout;
use fleet::ops::OpsConfig;
use fleet::queue::Queue;
use fleet::shutdown::Shutdown;
use producer::ingest::Ingest;
use producer::trigger::{Forecast, Services, Train};
use producer::wait::Wait;

use crate::cli::producer::PairArgs;
use crate::cli::services::TrainingArgs;

/// The sample bars shipped with the repository, for a `cargo run` from this checkout.
const SAMPLE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/sample");

#[derive(Debug, Args)]
pub struct DemoArgs {
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

pub async fn run(args: DemoArgs, shutdown: &Shutdown) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create the data directory {}", args.data_dir.display()))?;
    let layout = EmbeddedLayout::new(args.data_dir.canonicalize()?);
    let files = if args.files.is_empty() { sample_files(&args.samples)? } else { args.files.clone() };
    let services = Services { database: layout.database(), queue: layout.queue(), store: layout.store() };
    tracing::info!(data_dir = %layout.root().display(), workers = args.workers, "embedded fleet starting");
    collector::migrate(&services.database).await?;

    let ingest = Ingest { database: Some(services.database.clone()), files, ..Ingest::default() };
    if producer::ingest::run(ingest).await? != ExitCode::SUCCESS {
        anyhow::bail!("a bar file could not be used (see its report above)");
    }

    let fleet = Fleet::start(&services, args.workers, shutdown);
    let run = async {
        let wait = Wait::until(args.timeout_secs);
        let train = Train {
            pairs: args.pairs.pairs(),
            services: services.clone(),
            training: args.training.settings(),
            force: false,
            wait: wait.clone(),
        };
        let trained = producer::trigger::train(train).await?;
        let forecast =
            Forecast { pairs: args.pairs.pairs(), services: services.clone(), wait, ..Forecast::default() };
        let forecasted = producer::trigger::forecast(forecast).await?;
        anyhow::Ok(if trained == ExitCode::SUCCESS { forecasted } else { trained })
    };
    let outcome = tokio::select! {
        outcome = run => outcome,
        () = shutdown.triggered() => Ok(ExitCode::FAILURE),
    };
    fleet.stop(&services).await?;
    println!("{}", layout.describe());
    outcome
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

type Task<E> = tokio::task::JoinHandle<Result<(), E>>;

/// The collector and the workers, as tasks of this process. Each group stops with a child of
/// the process's shutdown: a signal stops them all, and the demo stops the workers before the
/// collector.
struct Fleet {
    collector_stop: Shutdown,
    collector: Task<collector::CollectorError>,
    workers_stop: Shutdown,
    workers: Vec<Task<worker::WorkerError>>,
}

impl Fleet {
    fn start(services: &Services, workers: usize, shutdown: &Shutdown) -> Self {
        // Operators' endpoints on free loopback ports: nothing is exposed, nothing clashes.
        let ops = || OpsConfig { metrics_addr: Some((std::net::Ipv4Addr::LOCALHOST, 0).into()) };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let collector_stop = shutdown.child();
        let config = collector::Config {
            database: services.database.clone(),
            queue: services.queue.clone(),
            name: Some("demo".to_owned()),
            ops: ops(),
            ..collector::Config::default()
        };
        let stop = collector_stop.clone();
        let collector = shutdown.spawn(async move { collector::run(config, &stop).await });
        let workers_stop = shutdown.child();
        let workers = (0..workers.max(1))
            .map(|_| {
                let config = worker::Config {
                    queue: services.queue.clone(),
                    store: services.store.clone(),
                    concurrency: Some(1),
                    train_threads: Some((cores / workers.max(1)).max(1)),
                    ops: ops(),
                    ..worker::Config::default()
                };
                let stop = workers_stop.clone();
                shutdown.spawn(async move { worker::run(config, &stop).await })
            })
            .collect();
        Self { collector_stop, collector, workers_stop, workers }
    }

    /// Stops the workers (their jobs in hand finish), lets the collector write the results
    /// they published, then stops it: an interrupted demo leaves no result unwritten.
    async fn stop(self, services: &Services) -> anyhow::Result<()> {
        self.workers_stop.trigger();
        for worker in self.workers {
            worker.await?.context("an in-process worker failed")?;
        }
        let queue = Queue::connect(&services.queue).await?;
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while fleet::queue::results::backlog(&queue).await? > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            anyhow::Ok(())
        });
        match drained.await {
            Ok(drained) => drained?,
            Err(_) => tracing::warn!("results not all written yet: the next run's collector writes them"),
        }
        self.collector_stop.trigger();
        self.collector.await?.context("the in-process collector failed")
    }
}
