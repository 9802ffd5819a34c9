//! `--wait`: follow a run in Postgres until every job has its row, with a progress bar, then
//! print the summary table. The exit code says whether every job succeeded.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use apalis_redis::ConnectionManager;
use chrono::{DateTime, Utc};
use clap::Args;
use fleet::queue;
use shared::job::Pair;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::db;

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

pub(crate) async fn follow(
    pool: &PgPool,
    conn: &mut ConnectionManager,
    queue: &apalis_redis::Config,
    kind: RunKind,
    run_id: Uuid,
    expected: &[Expected],
    args: &WaitArgs,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut last_dead_check = Instant::now();
    let mut dead: Vec<Uuid> = Vec::new();
    let mut progress = Progress::new(expected.len());
    let rows = loop {
        let mut rows: HashMap<Uuid, PgRow> = db::run_rows(pool, kind, run_id)
            .await?
            .into_iter()
            .map(|row| (row.get::<Uuid, _>("job_uuid"), row))
            .collect();
        let missing: Vec<Uuid> = expected
            .iter()
            .map(|e| e.job_id)
            .filter(|id| !rows.contains_key(id) && !dead.contains(id))
            .collect();
        progress.show(expected.len() - missing.len());
        if missing.is_empty() || started.elapsed() > Duration::from_secs(args.timeout_secs) {
            rows.retain(|id, _| expected.iter().any(|e| e.job_id == *id));
            break rows;
        }
        if last_dead_check.elapsed() > DEAD_CHECK {
            for id in missing {
                if queue::is_dead(conn, queue, id).await? {
                    dead.push(id);
                }
            }
            last_dead_check = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    };
    progress.finish();
    let (table, all_ok) = summary(kind, expected, &rows, &dead);
    print!("{table}");
    println!(
        "run {run_id}: {} of {} jobs reported in {:.1} s",
        rows.len(),
        expected.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Waits for `count` ping rows of a run; returns how many arrived.
pub(crate) async fn count(
    pool: &PgPool,
    run_id: Uuid,
    count: usize,
    args: &WaitArgs,
) -> anyhow::Result<usize> {
    let started = Instant::now();
    let mut progress = Progress::new(count);
    loop {
        let done: i64 = sqlx::query_scalar("select count(*) from pings where run_id = $1")
            .bind(run_id)
            .fetch_one(pool)
            .await?;
        let done = usize::try_from(done).unwrap_or_default();
        progress.show(done);
        if done >= count || started.elapsed() > Duration::from_secs(args.timeout_secs) {
            progress.finish();
            return Ok(done);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The table, and whether every job succeeded (or was up to date).
fn summary(
    kind: RunKind,
    expected: &[Expected],
    rows: &HashMap<Uuid, PgRow>,
    dead: &[Uuid],
) -> (String, bool) {
    let mut all_ok = true;
    let mut table = String::new();
    match kind {
        RunKind::Train => {
            let _ = writeln!(
                table,
                "{:<10} {:<4} {:<11} {:<26} {:<9} {:>8}",
                "SYMBOL", "TF", "STATUS", "ENSEMBLE [95% CI]", "MAJORITY", "SECONDS"
            );
        }
        RunKind::Forecast => {
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
        let Some(row) = rows.get(job_id) else {
            all_ok = false;
            let status = if dead.contains(job_id) { "dead" } else { "no result" };
            let _ = writeln!(table, "{symbol:<10} {timeframe:<4} {status:<11} (job {job_id})");
            continue;
        };
        match kind {
            RunKind::Train => {
                let status: String = row.get("status");
                all_ok &= status != "failed";
                // A model the promotion rule kept out of `latest` is a success, shown apart.
                let status = if row.get::<Option<bool>, _>("promoted") == Some(false) {
                    "candidate".to_owned()
                } else {
                    status
                };
                let f = |column: &str| row.get::<Option<f64>, _>(column);
                let ensemble =
                    match (f("ensemble_accuracy"), f("ensemble_accuracy_low"), f("ensemble_accuracy_high")) {
                        (Some(value), Some(low), Some(high)) => format!("{value:.3} [{low:.3}, {high:.3}]"),
                        _ => row.get::<Option<String>, _>("error").unwrap_or_default(),
                    };
                let majority = f("majority_accuracy").map_or_else(String::new, |m| format!("{m:.3}"));
                let note = row.get::<Option<String>, _>("promotion_note").unwrap_or_default();
                let started: Option<DateTime<Utc>> = row.get("started_at");
                let finished: DateTime<Utc> = row.get("finished_at");
                let seconds =
                    started.map_or_else(String::new, |s| format!("{:.1}", (finished - s).as_seconds_f64()));
                let _ = writeln!(
                    table,
                    "{symbol:<10} {timeframe:<4} {status:<11} {ensemble:<26} {majority:<9} {seconds:>8}  {note}"
                );
            }
            RunKind::Forecast => {
                let trained: bool = row.get("is_trained_ensemble");
                let error: Option<String> = row.get("error");
                let status = if trained {
                    "predicted"
                } else if error.is_some() {
                    "no model"
                } else {
                    "failed"
                };
                all_ok &= trained;
                let direction: Option<String> = row.get("direction");
                let confidence =
                    row.get::<Option<f64>, _>("confidence").map_or_else(String::new, |c| format!("{c:.3}"));
                let detail = match row.get::<Option<String>, _>("artifact_version") {
                    Some(version) => format!("model {version}"),
                    None => error.unwrap_or_default(),
                };
                let direction = direction.unwrap_or_default();
                let _ = writeln!(
                    table,
                    "{symbol:<10} {timeframe:<4} {status:<11} {direction:<9} {confidence:<10} {detail}"
                );
            }
        }
    }
    (table, all_ok)
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
