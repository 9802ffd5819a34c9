//! `--wait`: follow a run in the database until every job has its row, with a progress bar,
//! then print the summary table. The exit code says whether every job succeeded.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use fleet::database::Database;
use fleet::queue::Queue;
use shared::job::Pair;
use uuid::Uuid;

use crate::db::{self, ForecastRow, TrainRow};

const POLL: Duration = Duration::from_millis(300);
/// How often jobs without a row are looked up in the queue's dead set.
const DEAD_CHECK: Duration = Duration::from_secs(3);

#[derive(Debug, Args)]
pub(crate) struct WaitArgs {
    /// Follow the run to its end, print a summary, and exit non-zero if a job failed.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 7200)]
    pub timeout_secs: u64,
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
    async fn read(database: &Database, kind: RunKind, job_ids: &[Uuid]) -> anyhow::Result<Self> {
        Ok(match kind {
            RunKind::Train => Self::Train(by_job(db::train_rows(database, job_ids).await?, |r| &r.job_id)),
            RunKind::Forecast => {
                Self::Forecast(by_job(db::forecast_rows(database, job_ids).await?, |r| &r.job_id))
            }
        })
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
    args: &WaitArgs,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut last_dead_check = Instant::now();
    let mut dead: Vec<Uuid> = Vec::new();
    let mut progress = Progress::new(expected.len());
    let job_ids: Vec<Uuid> = expected.iter().map(|e| e.job_id).collect();
    let rows = loop {
        let rows = Rows::read(database, kind, &job_ids).await?;
        let missing: Vec<Uuid> =
            expected.iter().map(|e| e.job_id).filter(|id| !rows.has(id) && !dead.contains(id)).collect();
        progress.show(expected.len() - missing.len());
        if missing.is_empty() || started.elapsed() > Duration::from_secs(args.timeout_secs) {
            break rows;
        }
        if last_dead_check.elapsed() > DEAD_CHECK {
            for id in missing {
                if queue.is_dead(id).await? {
                    dead.push(id);
                }
            }
            last_dead_check = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    };
    progress.finish();
    let reported = expected.iter().filter(|e| rows.has(&e.job_id)).count();
    let (table, all_ok) = summary(expected, &rows, &dead);
    print!("{table}");
    println!(
        "run {run_id}: {reported} of {} jobs reported in {:.1} s",
        expected.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Waits for `count` ping rows of a run; returns how many arrived.
pub(crate) async fn count(
    database: &Database,
    run_id: Uuid,
    count: usize,
    args: &WaitArgs,
) -> anyhow::Result<usize> {
    let started = Instant::now();
    let mut progress = Progress::new(count);
    loop {
        let done = db::pings(database, run_id).await?;
        progress.show(done);
        if done >= count || started.elapsed() > Duration::from_secs(args.timeout_secs) {
            progress.finish();
            return Ok(done);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
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
                "{:<10} {:<4} {:<11} {:<26} {:<9} {:<10} {:>8}",
                "SYMBOL", "TF", "STATUS", "ENSEMBLE [95% CI]", "MAJORITY", "BASELINES", "SECONDS"
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
                all_ok &= row.status != "failed";
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
        _ if row.status == "up_to_date" => {
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
    format!("{status:<11} {ensemble:<26} {majority:<9} {baselines:<10} {seconds:>8}  {note}")
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
        if self.terminal {
            let mut stderr = std::io::stderr();
            let _ = writeln!(stderr);
        }
    }
}
