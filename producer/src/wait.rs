//! `--wait`: follow a run in the database until every job has its row, with a progress bar,
//! then print the summary table. The exit code says whether every job succeeded.

use crate::ProducerError;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use fleet::backoff::Backoff;
use fleet::database::Database;
use fleet::database::runs::{ForecastRow, RunStatus, TrainRow};
use fleet::queue::{Queue, QueueError};
use ml_core::job::Pair;
use ml_core::model::backtest::deflated_sharpe;
use uuid::Uuid;

/// How often the rows of the jobs still running are looked for: each read asks for those
/// only, so a run's every row is read once.
const POLL: Duration = Duration::from_millis(100);
/// How often jobs without a row are looked up in the queue's dead set.
const DEAD_CHECK: Duration = Duration::from_secs(3);

/// Whether and how long a trigger follows its run.
#[derive(Debug, Clone)]
pub struct Wait {
    /// Follow the run to its end, print a summary, and exit non-zero if a job failed.
    pub wait: bool,
    /// Give up waiting after this many seconds.
    pub timeout_secs: u64,
    /// When no job has finished for this many seconds, check that a worker is alive on the
    /// queue and say so if none is.
    pub no_progress_warning_secs: u64,
}

impl Default for Wait {
    /// Not following the run; when following, for up to two hours.
    fn default() -> Self {
        Self { wait: false, timeout_secs: 7200, no_progress_warning_secs: 60 }
    }
}

impl Wait {
    /// Following a run for up to `timeout_secs`, with the other defaults.
    pub fn until(timeout_secs: u64) -> Self {
        Self { wait: true, timeout_secs, ..Self::default() }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum RunKind {
    Train,
    Forecast,
}

/// A job the run waits for.
#[derive(Debug)]
pub(crate) struct Expected {
    pub job_id: Uuid,
    pub pair: Pair,
}

/// The rows of a run, by job id.
enum Rows {
    Train(HashMap<Uuid, TrainRow>),
    Forecast(HashMap<Uuid, ForecastRow>),
}

impl Rows {
    fn empty(kind: RunKind) -> Self {
        match kind {
            RunKind::Train => Self::Train(HashMap::new()),
            RunKind::Forecast => Self::Forecast(HashMap::new()),
        }
    }

    /// Adds the rows of `job_ids` written so far (a job's row, once written, never changes).
    async fn read_more(&mut self, database: &Database, job_ids: &[Uuid]) -> Result<(), ProducerError> {
        match self {
            Self::Train(rows) => rows.extend(by_job(database.train_rows(job_ids).await?, |r| &r.job_id)),
            Self::Forecast(rows) => {
                rows.extend(by_job(database.forecast_rows(job_ids).await?, |r| &r.job_id))
            }
        }
        Ok(())
    }

    fn has(&self, job_id: &Uuid) -> bool {
        match self {
            Self::Train(rows) => rows.contains_key(job_id),
            Self::Forecast(rows) => rows.contains_key(job_id),
        }
    }
}

/// Rows by the job id they hold (ids that are not uuids are not the run's jobs).
fn by_job<R>(rows: Vec<R>, job_id: impl Fn(&R) -> &str) -> HashMap<Uuid, R> {
    rows.into_iter().filter_map(|row| Some((job_id(&row).parse().ok()?, row))).collect()
}

pub(crate) async fn follow(
    database: &Database,
    queue: &Queue,
    kind: RunKind,
    run_id: Uuid,
    expected: &[Expected],
    args: &Wait,
) -> Result<ExitCode, ProducerError> {
    let mut watch = Watch::new(queue, expected.len(), args);
    let mut last_dead_check = Instant::now();
    let mut dead: Vec<Uuid> = Vec::new();
    // The jobs without a row yet, the dead ones too: their failure's row may still come.
    let mut unread: Vec<Uuid> = expected.iter().map(|e| e.job_id).collect();
    let mut rows = Rows::empty(kind);
    loop {
        match rows.read_more(database, &unread).await {
            Ok(()) => watch.up(Service::Database),
            Err(error) => watch.down(Service::Database, error)?,
        }
        unread.retain(|id| !rows.has(id));
        let missing: Vec<Uuid> = unread.iter().filter(|id| !dead.contains(id)).copied().collect();
        watch.progress(expected.len() - missing.len()).await?;
        if missing.is_empty() || watch.timed_out() {
            break;
        }
        if last_dead_check.elapsed() > DEAD_CHECK {
            match dead_among(queue, &missing).await {
                Ok(found) => {
                    watch.up(Service::Queue);
                    dead.extend(found);
                }
                Err(error) => watch.down(Service::Queue, error.into())?,
            }
            last_dead_check = Instant::now();
        }
        tokio::time::sleep(watch.pause(POLL)).await;
    }
    watch.finish();
    let reported = expected.iter().filter(|e| rows.has(&e.job_id)).count();
    let (table, all_ok) = summary(expected, &rows, &dead);
    print!("{table}");
    println!(
        "run {run_id}: {reported} of {} jobs reported in {:.1} s",
        expected.len(),
        watch.started.elapsed().as_secs_f64()
    );
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The jobs among `missing` that the queue gave up on.
async fn dead_among(queue: &Queue, missing: &[Uuid]) -> Result<Vec<Uuid>, QueueError> {
    let mut dead = Vec::new();
    for &id in missing {
        if queue.is_dead(id).await? {
            dead.push(id);
        }
    }
    Ok(dead)
}

/// Waits for `count` ping rows of a run; returns how many arrived.
pub(crate) async fn count(
    database: &Database,
    queue: &Queue,
    run_id: Uuid,
    count: usize,
    args: &Wait,
) -> Result<usize, ProducerError> {
    let mut watch = Watch::new(queue, count, args);
    let mut done = 0;
    loop {
        match database.pings(run_id).await {
            Ok(pings) => {
                watch.up(Service::Database);
                done = pings;
            }
            Err(error) => watch.down(Service::Database, error.into())?,
        }
        watch.progress(done).await?;
        if done >= count || watch.timed_out() {
            watch.finish();
            return Ok(done);
        }
        tokio::time::sleep(watch.pause(Duration::from_millis(50))).await;
    }
}

/// What a wait reads from, each of which may go away for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Database,
    Queue,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Self::Database => "the database (DATABASE_URL)",
            Self::Queue => "the queue",
        }
    }
}

/// A run being followed: its clock, the progress shown, outages of the services it reads
/// and whether any worker is there to make progress.
///
/// An outage is waited out like the collector waits one out (retries with backoff, said
/// once when it starts and once when it ends); only the run's timeout ends the wait, since
/// the results keep coming once the service is back. An error that is not an outage (a
/// refused statement) ends it at once.
struct Watch<'q> {
    queue: &'q Queue,
    started: Instant,
    timeout: Duration,
    progress: Progress,
    down: Vec<Service>,
    backoff: Backoff,
    /// Jobs done when the count last changed, and when.
    last_done: (usize, Instant),
    /// How long nothing may finish before the wait looks for a live worker.
    no_progress_warning: Duration,
    /// Whether the wait already said that no worker is there.
    said_no_worker: bool,
}

/// Longest pause between two reads while a service is down.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl<'q> Watch<'q> {
    fn new(queue: &'q Queue, total: usize, args: &Wait) -> Self {
        let now = Instant::now();
        Self {
            queue,
            started: now,
            timeout: Duration::from_secs(args.timeout_secs),
            progress: Progress::new(total),
            down: Vec::new(),
            backoff: Backoff::up_to(MAX_BACKOFF),
            last_done: (0, now),
            no_progress_warning: Duration::from_secs(args.no_progress_warning_secs),
            said_no_worker: false,
        }
    }

    fn timed_out(&self) -> bool {
        self.started.elapsed() > self.timeout
    }

    /// Shows `done`; when nothing finished for a while, says so if no worker is alive on the
    /// queue.
    async fn progress(&mut self, done: usize) -> Result<(), ProducerError> {
        self.progress.show(done);
        if done != self.last_done.0 {
            self.last_done = (done, Instant::now());
            self.said_no_worker = false;
            return Ok(());
        }
        if self.said_no_worker || self.last_done.1.elapsed() < self.no_progress_warning {
            return Ok(());
        }
        match self.queue.workers_alive().await {
            Ok(0) => {
                self.progress.interrupt();
                tracing::warn!(
                    queue = self.queue.name(),
                    waited_secs = self.last_done.1.elapsed().as_secs(),
                    "no job has finished and no worker is alive on this queue: is one running (same REDIS_URL or QUEUE_URL, and QUEUE_PREFIX)?"
                );
                self.said_no_worker = true;
                self.up(Service::Queue);
            }
            Ok(_) => self.up(Service::Queue),
            Err(error) => self.down(Service::Queue, error.into())?,
        }
        Ok(())
    }

    /// `service` answered: the end of its outage, if it had one.
    fn up(&mut self, service: Service) {
        if let Some(index) = self.down.iter().position(|s| *s == service) {
            self.down.remove(index);
            self.progress.interrupt();
            tracing::info!(service = service.name(), "back; the wait goes on");
            if self.down.is_empty() {
                self.backoff = Backoff::up_to(MAX_BACKOFF);
            }
        }
    }

    /// `service` failed: an outage to wait out, or the end of the wait if the error is not
    /// one that passes.
    fn down(&mut self, service: Service, error: ProducerError) -> Result<(), ProducerError> {
        if !error.is_retryable() {
            return Err(ProducerError::Follow { service: service.name(), source: Box::new(error) });
        }
        if !self.down.contains(&service) {
            self.down.push(service);
            self.progress.interrupt();
            tracing::warn!(
                service = service.name(),
                error = %error,
                timeout_secs = self.timeout.saturating_sub(self.started.elapsed()).as_secs(),
                "unreachable; waiting for it until the timeout (the fleet keeps working)"
            );
        }
        Ok(())
    }

    /// How long to sleep before the next read: `normal`, or the backoff while a service is
    /// down.
    fn pause(&mut self, normal: Duration) -> Duration {
        if self.down.is_empty() { normal } else { self.backoff.next_delay() }
    }

    fn finish(&self) {
        self.progress.finish();
        for service in &self.down {
            tracing::warn!(service = service.name(), "still unreachable when the wait ended");
        }
    }
}

/// The table, and whether every job succeeded (or was up to date).
fn summary(expected: &[Expected], rows: &Rows, dead: &[Uuid]) -> (String, bool) {
    let mut all_ok = true;
    let mut table = String::new();
    match rows {
        Rows::Train(_) => {
            let _ = writeln!(
                table,
                "{:<10} {:<4} {:<11} {:<26} {:<9} {:<10} {:>6} {:>6} {:>10} {:>9} {:>8}",
                "SYMBOL",
                "TF",
                "STATUS",
                "ENSEMBLE [95% CI]",
                "MAJORITY",
                "BASELINES",
                "SHARPE",
                "B&H",
                "DSR (N)",
                "COMPOSITE",
                "SECONDS"
            );
        }
        Rows::Forecast(_) => {
            let _ = writeln!(
                table,
                "{:<10} {:<4} {:<11} {:<9} {:<10} DETAIL",
                "SYMBOL", "TF", "STATUS", "DIRECTION", "CONFIDENCE"
            );
        }
    }
    for Expected { job_id, pair } in expected {
        let symbol = pair.symbol.as_str();
        let timeframe = pair.timeframe.as_str();
        let line = match rows {
            Rows::Train(rows) => rows.get(job_id).map(|row| {
                all_ok &= row.status != RunStatus::Failed;
                train_line(row)
            }),
            Rows::Forecast(rows) => rows.get(job_id).map(|row| {
                all_ok &= row.is_trained_ensemble;
                forecast_line(row)
            }),
        };
        let line = line.unwrap_or_else(|| {
            all_ok = false;
            let status = if dead.contains(job_id) { "dead" } else { "no result" };
            format!("{status:<11} (job {job_id})")
        });
        let _ = writeln!(table, "{symbol:<10} {timeframe:<4} {line}");
    }
    (table, all_ok)
}

/// A training run's columns after the pair.
fn train_line(row: &TrainRow) -> String {
    // A model the promotion rule kept out of `latest` is a success, shown apart.
    let status = if row.promoted == Some(false) { "candidate" } else { row.status.as_str() };
    let ensemble = match (row.ensemble_accuracy, row.ensemble_accuracy_low, row.ensemble_accuracy_high) {
        (Some(value), Some(low), Some(high)) => format!("{value:.3} [{low:.3}, {high:.3}]"),
        // Nothing was trained: the model that already fits this data and configuration.
        _ if row.status == RunStatus::UpToDate => {
            row.artifact_version.as_ref().map_or_else(String::new, |version| format!("model {version}"))
        }
        _ => row.error.clone().unwrap_or_default(),
    };
    let majority = row.majority_accuracy.map_or_else(String::new, |m| format!("{m:.3}"));
    // The verdict of `Evaluation::verdict`: beyond both baselines' 95 % intervals, or not.
    let baselines = match row.beats_baselines {
        Some(true) => "beaten",
        Some(false) => "not beaten",
        None => "",
    };
    let note = row.promotion_note.as_deref().unwrap_or_default();
    let seconds =
        row.started_at.map_or_else(String::new, |s| format!("{:.1}", (row.finished_at - s).as_seconds_f64()));
    let number =
        |value: Option<f64>, digits: usize| value.map_or_else(String::new, |v| format!("{v:.digits$}"));
    // The pair's every succeeded model is a trial: the more tried, the higher the bar.
    let trials = usize::try_from(row.trials).unwrap_or(1).max(1);
    let deflated = row
        .return_moments
        .as_ref()
        .and_then(|moments| deflated_sharpe(&moments.0, trials, None))
        .map_or_else(String::new, |dsr| format!("{dsr:.2} ({trials})"));
    format!(
        "{status:<11} {ensemble:<26} {majority:<9} {baselines:<10} {:>6} {:>6} {deflated:>10} {:>9} {seconds:>8}  {note}",
        number(row.backtest_sharpe, 2),
        number(row.buy_hold_sharpe, 2),
        number(row.composite, 3),
    )
}

/// A forecast's columns after the pair.
fn forecast_line(row: &ForecastRow) -> String {
    let status = if row.is_trained_ensemble {
        "predicted"
    } else if row.error.is_some() {
        "no model"
    } else {
        "failed"
    };
    let confidence = row.confidence.map_or_else(String::new, |c| format!("{c:.3}"));
    let detail = match &row.artifact_version {
        Some(version) => format!("model {version}"),
        None => row.error.clone().unwrap_or_default(),
    };
    let direction = row.direction.as_deref().unwrap_or_default();
    format!("{status:<11} {direction:<9} {confidence:<10} {detail}")
}

/// A one-line progress bar on a terminal; a log line every few seconds otherwise.
struct Progress {
    total: usize,
    terminal: bool,
    last_log: Instant,
    last_done: Option<usize>,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self { total, terminal: std::io::stderr().is_terminal(), last_log: Instant::now(), last_done: None }
    }

    fn show(&mut self, done: usize) {
        if self.last_done == Some(done) && self.last_log.elapsed() < Duration::from_secs(10) {
            return;
        }
        self.last_done = Some(done);
        if self.terminal {
            const WIDTH: usize = 30;
            let filled = (done * WIDTH).checked_div(self.total).unwrap_or(WIDTH);
            let bar = format!("{}{}", "#".repeat(filled), ".".repeat(WIDTH - filled));
            let mut stderr = std::io::stderr();
            let _ = write!(stderr, "\r[{bar}] {done}/{} jobs", self.total);
            let _ = stderr.flush();
        } else if self.last_log.elapsed() > Duration::from_secs(5) || done == self.total {
            tracing::info!(done, total = self.total, "run progress");
            self.last_log = Instant::now();
        }
    }

    fn finish(&self) {
        self.interrupt();
    }

    /// Ends the bar's line, so that a log line does not run into it.
    fn interrupt(&self) {
        if self.terminal {
            let mut stderr = std::io::stderr();
            let _ = writeln!(stderr);
        }
    }
}
