//! The collector's loop: results stream → database (Postgres, or SQLite in embedded mode), in
//! batches, at least once, idempotently.
//!
//! A batch is written in one transaction, one statement per table, `on conflict do
//! nothing`: a result delivered twice is one row. Entries are acknowledged only after the
//! commit. While the database is down the batch waits and is retried; nothing is acked, so a
//! crash loses nothing either. A row the database refuses for its content (a constraint) is
//! not retried forever: it goes to the dead-letter stream with the database's error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet::backoff::Backoff;
use fleet::config::{DatabaseConfig, QueueConfig};
use fleet::database::DatabaseError;
use fleet::database::write::{ResultsWriter, Table, row};
use fleet::ops::{Ops, OpsConfig};
use fleet::queue::results::{Delivery, ResultsConsumer, Unreadable};
use fleet::queue::{Queue, QueueError};
use fleet::shutdown::Shutdown;
use serde_json::Value;

use prometheus_client::registry::Registry;

use crate::CollectorError;
use crate::metrics::{CollectorMetrics, TableLabel};

/// The longest wait between two attempts while the database or Redis is down.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often finished jobs are swept out of the queue, and how many per Redis call.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);
const SWEEP_BATCH: usize = 1000;
/// After a batch smaller than the batch size, how long results may gather before the next
/// read. A batch costs a transaction (a flush of the database's log) and a few Redis calls
/// whatever its size, and a steady stream read as it comes makes batches of a few rows; a
/// result waits this much longer at most.
const LINGER: Duration = Duration::from_millis(20);

/// A collector's settings (`boltfleet collector run`, or the embedded demo's collector).
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub queue: QueueConfig,
    /// Results written per transaction at most.
    pub batch_size: usize,
    /// This collector's name in the results consumer group (`None`: the host's). A collector
    /// restarted under the same name takes its unacknowledged results back at once; others
    /// take them after 30 s.
    pub name: Option<String>,
    pub ops: OpsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database: DatabaseConfig::default(),
            queue: QueueConfig::default(),
            batch_size: 1000,
            name: None,
            ops: OpsConfig::default(),
        }
    }
}

/// The operator's view of the collector: its metrics and its readiness.
#[derive(Debug)]
struct Telemetry {
    metrics: CollectorMetrics,
    ops: Ops,
}

/// Writes results until `shutdown` is triggered; the batch in hand is finished or left
/// unacknowledged for the next start. Returns once the collector's own tasks (the queue
/// sweep, the backlog sampler, the metrics server) have ended too.
pub async fn run(args: Config, shutdown: &Shutdown) -> Result<(), CollectorError> {
    let tasks = shutdown.child();
    let outcome = collect(args, &tasks).await;
    tasks.stop().await;
    outcome
}

async fn collect(args: Config, stop: &Shutdown) -> Result<(), CollectorError> {
    let mut registry = Registry::default();
    let metrics = CollectorMetrics::register(&mut registry);
    let ops = Ops::serve(registry, &args.ops, stop).await.map_err(CollectorError::Ops)?;
    let telemetry = Arc::new(Telemetry { metrics, ops });
    let database = crate::connect_retrying(&args.database, stop).await?;
    let Some(database) = database else { return Ok(()) };
    database.migrate().await?;
    let writer = ResultsWriter::new(database);
    let queue = Queue::connect(&args.queue).await?;
    let name = args.name.unwrap_or_else(fleet::host_name);
    stop.spawn(sweep_finished_jobs(queue.clone(), stop.clone()));
    stop.spawn(sample_backlog(queue.clone(), telemetry.clone(), stop.clone()));
    let mut consumer = ResultsConsumer::new(&queue, name.clone()).await?;
    tracing::info!(name, batch_size = args.batch_size, "collector started");
    telemetry.ops.set_ready(true);
    let mut backoff = Backoff::up_to(MAX_BACKOFF);
    while !stop.is_triggered() {
        let batch = tokio::select! {
            batch = consumer.next_batch(args.batch_size, Duration::from_secs(1)) => batch,
            () = stop.triggered() => break,
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read results from Redis; retrying");
                if pause(&mut backoff, stop).await {
                    break;
                }
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        let full = batch.len() >= args.batch_size;
        match store_batch(&writer, &mut consumer, batch, &telemetry, stop).await {
            Ok(true) => {
                backoff = Backoff::up_to(MAX_BACKOFF);
                if !full {
                    tokio::select! {
                        () = tokio::time::sleep(LINGER) => {}
                        () = stop.triggered() => break,
                    }
                }
            }
            Ok(false) => break,
            Err(error) => {
                tracing::warn!(error = %error, "cannot acknowledge results; they will be read again");
                if pause(&mut backoff, stop).await {
                    break;
                }
            }
        }
    }
    tracing::info!("collector stopped");
    writer.database().close().await;
    Ok(())
}

/// apalis keeps every finished job's payload and metadata forever; a done job's result is on
/// the results stream by then, so the collector forgets them, a batch at a time.
async fn sweep_finished_jobs(queue: Queue, stop: Shutdown) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    while stop.tick(&mut tick).await {
        let mut swept = 0;
        loop {
            match queue.sweep_done(SWEEP_BATCH).await {
                Ok(count) => {
                    swept += count;
                    if count < SWEEP_BATCH {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, "cannot sweep finished jobs from the queue; next time");
                    break;
                }
            }
        }
        if swept > 0 {
            tracing::debug!(jobs = swept, "finished jobs swept from the queue");
        }
    }
}

/// How often the results backlog is read for its gauge.
const BACKLOG_INTERVAL: Duration = Duration::from_secs(5);

async fn sample_backlog(queue: Queue, telemetry: Arc<Telemetry>, stop: Shutdown) {
    let mut tick = tokio::time::interval(BACKLOG_INTERVAL);
    while stop.tick(&mut tick).await {
        match fleet::queue::results::backlog(&queue).await {
            Ok(backlog) => {
                telemetry.metrics.backlog.set(i64::try_from(backlog).unwrap_or(i64::MAX));
            }
            Err(error) => tracing::debug!(error = %error, "cannot read the results backlog"),
        }
    }
}

/// Writes a batch until the database takes it, then acks it. `Ok(false)` if asked to stop
/// first (the batch stays pending for the next start).
async fn store_batch(
    writer: &ResultsWriter,
    consumer: &mut ResultsConsumer,
    batch: Vec<Delivery>,
    telemetry: &Telemetry,
    stop: &Shutdown,
) -> Result<bool, QueueError> {
    let mut rows: Vec<(String, Table, Value)> = Vec::with_capacity(batch.len());
    for delivery in batch {
        match delivery.result {
            Ok(result) => {
                let (table, row) = row(&result);
                rows.push((delivery.id, table, row));
            }
            Err(unreadable) => {
                tracing::error!(
                    entry = delivery.id,
                    error = unreadable.error,
                    "unreadable result sent to the dead letters"
                );
                consumer.dead_letter(&delivery.id, &unreadable).await?;
                telemetry.metrics.dead_lettered.inc();
            }
        }
    }
    let mut backoff = Backoff::up_to(MAX_BACKOFF);
    loop {
        match insert(writer, rows.iter().map(|(_, table, row)| (*table, row)), &telemetry.metrics).await {
            Ok(()) => break,
            Err(error) if error.is_retryable() => {
                telemetry.ops.set_ready(false);
                tracing::warn!(error = %error, rows = rows.len(), "database unavailable; the batch waits");
                if pause(&mut backoff, stop).await {
                    return Ok(false);
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "the database refused the batch; writing its rows one by one");
                rows = insert_one_by_one(writer, consumer, rows, &telemetry.metrics).await?;
                if rows.is_empty() {
                    break;
                }
            }
        }
    }
    telemetry.ops.set_ready(true);
    let ids: Vec<String> = rows.into_iter().map(|(id, _, _)| id).collect();
    consumer.ack(&ids).await?;
    tracing::debug!(results = ids.len(), "results written");
    Ok(true)
}

/// Writes rows one at a time: refused ones go to the dead letters. Returns the rows that
/// could not be tried because the database went away (to retry as a batch).
async fn insert_one_by_one(
    writer: &ResultsWriter,
    consumer: &mut ResultsConsumer,
    rows: Vec<(String, Table, Value)>,
    metrics: &CollectorMetrics,
) -> Result<Vec<(String, Table, Value)>, QueueError> {
    let mut written = Vec::new();
    let mut rows = rows.into_iter();
    while let Some((id, table, row)) = rows.next() {
        match insert(writer, std::iter::once((table, &row)), metrics).await {
            Ok(()) => written.push(id),
            Err(error) if error.is_retryable() => {
                consumer.ack(&written).await?;
                return Ok(std::iter::once((id, table, row)).chain(rows).collect());
            }
            Err(error) => {
                tracing::error!(entry = id, table = table.name(), error = %error, "row refused by the database, sent to the dead letters");
                let unreadable = Unreadable { raw: row.to_string(), error: error.to_string() };
                consumer.dead_letter(&id, &unreadable).await?;
                metrics.dead_lettered.inc();
            }
        }
    }
    consumer.ack(&written).await?;
    Ok(Vec::new())
}

/// Writes rows in one transaction ([`ResultsWriter::insert`]) and counts them in the metrics.
async fn insert<'a>(
    writer: &ResultsWriter,
    rows: impl Iterator<Item = (Table, &'a Value)>,
    metrics: &CollectorMetrics,
) -> Result<(), DatabaseError> {
    let clock = Instant::now();
    let written = writer.insert(rows).await?;
    metrics.write_seconds.observe(clock.elapsed().as_secs_f64());
    for (table, rows) in written {
        metrics.written.get_or_create(&TableLabel { table: table.name() }).inc_by(rows as u64);
    }
    Ok(())
}

/// Waits out one step of `backoff`; returns true if asked to stop meanwhile.
async fn pause(backoff: &mut Backoff, stop: &Shutdown) -> bool {
    tokio::select! {
        () = tokio::time::sleep(backoff.next_delay()) => stop.is_triggered(),
        () = stop.triggered() => true,
    }
}
