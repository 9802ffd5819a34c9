//! What a trigger and its wait ask about runs: is a pair up to date, how far is a run.

use chrono::{DateTime, Utc};
use ml_core::job::Pair;
use ml_core::model::stats::Moments;
use uuid::Uuid;

use super::{Database, DatabaseError, on_either, query_error};

/// `training_runs.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
    /// The pair's data and configuration had a succeeded run already.
    UpToDate,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::UpToDate => "up_to_date",
        }
    }
}

impl TryFrom<String> for RunStatus {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.as_str() {
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            "up_to_date" => Ok(Self::UpToDate),
            _ => Err(format!("training run status {text:?} is none of succeeded, failed, up_to_date")),
        }
    }
}

/// A training run's row, as a run's summary shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrainRow {
    pub job_id: String,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    pub promoted: Option<bool>,
    pub promotion_note: Option<String>,
    pub ensemble_accuracy: Option<f64>,
    pub ensemble_accuracy_low: Option<f64>,
    pub ensemble_accuracy_high: Option<f64>,
    pub majority_accuracy: Option<f64>,
    /// Whether the ensemble beat the majority and persistence baselines beyond their intervals.
    pub beats_baselines: Option<bool>,
    pub artifact_version: Option<String>,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    /// The holdout backtest's annualised Sharpe ratios: the signal long-short, and buy-and-hold.
    pub backtest_sharpe: Option<f64>,
    pub buy_hold_sharpe: Option<f64>,
    pub composite: Option<f64>,
    /// The signal's per-bar return moments, for its deflated Sharpe ratio.
    pub return_moments: Option<sqlx::types::Json<Moments>>,
    /// Succeeded runs of the pair up to this one: the deflated Sharpe ratio's trials.
    pub trials: i64,
}

/// A forecast's row, as a run's summary shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ForecastRow {
    pub job_id: String,
    pub is_trained_ensemble: bool,
    pub direction: Option<String>,
    pub confidence: Option<f64>,
    pub artifact_version: Option<String>,
    pub error: Option<String>,
}

/// The rows of `$table` whose `job_id` (text in both dialects) is one of `$job_ids`:
/// Postgres takes an array, SQLite a JSON array.
macro_rules! of_jobs {
    ($database:expr, $columns:expr, $table:expr, $job_ids:expr) => {{
        let ids: Vec<String> = $job_ids.iter().map(Uuid::to_string).collect();
        match $database {
            Database::Postgres(pool) => {
                let statement = format!("select {} from {} where job_id = any($1)", $columns, $table);
                sqlx::query_as(sqlx::AssertSqlSafe(statement)).bind(ids).fetch_all(pool).await
            }
            Database::Sqlite(pool) => {
                let statement = format!(
                    "select {} from {} where job_id in (select value from json_each($1))",
                    $columns, $table
                );
                sqlx::query_as(sqlx::AssertSqlSafe(statement))
                    .bind(sqlx::types::Json(ids))
                    .fetch_all(pool)
                    .await
            }
        }
        .map_err(query_error(format!("read the results of the run's jobs from {}", $table)))
    }};
}

impl Database {
    /// The model version of a succeeded run on the same data and configuration, if any.
    pub async fn up_to_date(
        &self,
        pair: &Pair,
        data_sha256: &str,
        config_sha256: &str,
    ) -> Result<Option<String>, DatabaseError> {
        const UP_TO_DATE: &str = "select artifact_version from training_runs
                                  where symbol = $1 and timeframe = $2 and data_sha256 = $3 and config_sha256 = $4
                                    and status = 'succeeded'
                                  order by finished_at desc limit 1";
        let version: Option<Option<String>> = on_either!(self, |pool| {
            sqlx::query_scalar(UP_TO_DATE)
                .bind(pair.symbol.as_str())
                .bind(pair.timeframe.as_str())
                .bind(data_sha256)
                .bind(config_sha256)
                .fetch_optional(pool)
                .await
        })
        .map_err(query_error(format!("look up earlier runs of {pair}")))?;
        Ok(version.flatten())
    }

    /// The training rows of these jobs (a run's own, and earlier ones it waits for) so far.
    pub async fn train_rows(&self, job_ids: &[Uuid]) -> Result<Vec<TrainRow>, DatabaseError> {
        const COLUMNS: &str = "job_id, status, promoted, promotion_note, ensemble_accuracy, ensemble_accuracy_low,
                               ensemble_accuracy_high, majority_accuracy, beats_baselines, artifact_version, error,
                               started_at, finished_at, backtest_sharpe, buy_hold_sharpe, composite,
                               evaluation -> 'backtest' -> 'long_short' -> 'return_moments' as return_moments,
                               (select count(*) from training_runs earlier
                                where earlier.symbol = training_runs.symbol and earlier.timeframe = training_runs.timeframe
                                  and earlier.status = 'succeeded' and earlier.finished_at <= training_runs.finished_at)
                               as trials";
        of_jobs!(self, COLUMNS, "training_runs", job_ids)
    }

    /// The forecast rows of these jobs so far.
    pub async fn forecast_rows(&self, job_ids: &[Uuid]) -> Result<Vec<ForecastRow>, DatabaseError> {
        const COLUMNS: &str = "job_id, is_trained_ensemble, direction, confidence, artifact_version, error";
        of_jobs!(self, COLUMNS, "ml_forecasts", job_ids)
    }

    /// How many pings of a run were written.
    pub async fn pings(&self, run_id: Uuid) -> Result<usize, DatabaseError> {
        const COUNT: &str = "select count(*) from pings where run_id = $1";
        let count: i64 = match self {
            Database::Postgres(pool) => sqlx::query_scalar(COUNT).bind(run_id).fetch_one(pool).await,
            Database::Sqlite(pool) => {
                sqlx::query_scalar(COUNT).bind(run_id.hyphenated()).fetch_one(pool).await
            }
        }
        .map_err(query_error(format!("count the pings of run {run_id}")))?;
        Ok(usize::try_from(count).unwrap_or_default())
    }
}
