//! What the dashboard shows: one summary row per pair, and the training runs. Read-only.

use chrono::{DateTime, Utc};
use ml_core::model::scores::Scores;
use serde::Serialize;

use uuid::Uuid;

use super::runs::RunStatus;
use super::{Database, DatabaseError, on_either, query_error};

/// A pair at a glance: its latest model's validation against the majority baseline, its
/// walk-forward and live scores, the composite, drift, and its last forecast.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PairSummary {
    pub symbol: String,
    pub timeframe: String,
    pub artifact_version: Option<String>,
    pub trained_at: Option<DateTime<Utc>>,
    pub ensemble_accuracy: Option<f64>,
    pub ensemble_accuracy_low: Option<f64>,
    pub ensemble_accuracy_high: Option<f64>,
    pub majority_accuracy: Option<f64>,
    /// The ensemble beat the majority and persistence baselines beyond their intervals.
    pub beats_baselines: Option<bool>,
    pub walk_forward_score: Option<f64>,
    pub backtest_score: Option<f64>,
    /// The training run's composite, before any live forecast.
    pub trained_composite: Option<f64>,
    pub live_score: Option<f64>,
    /// The latest evaluation's composite, with the live score in it.
    pub live_composite: Option<f64>,
    /// The latest evaluation flagged the live score as too far from the backtest's.
    pub composite_drift: Option<bool>,
    /// The current model raised a drift alert (accuracy drop).
    pub drift_alerted: bool,
    pub forecast_direction: Option<String>,
    pub forecast_confidence: Option<f64>,
    /// The last forecast's probabilities, BEARISH, NEUTRAL, BULLISH.
    pub forecast_bearish: Option<f64>,
    pub forecast_neutral: Option<f64>,
    pub forecast_bullish: Option<f64>,
    pub forecast_at: Option<DateTime<Utc>>,
    /// The Random Forest's and the gradient boosting's weights in the ensemble.
    pub rf_weight: Option<f64>,
    pub gb_weight: Option<f64>,
    /// The latest scores: the last evaluation's (with the live score), else the training
    /// run's. SQL null without either, JSON null from runs older than the scores.
    #[serde(serialize_with = "serialize_scores")]
    pub scores: Option<sqlx::types::Json<Option<Scores>>>,
}

fn serialize_scores<S: serde::Serializer>(
    scores: &Option<sqlx::types::Json<Option<Scores>>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    scores.as_ref().and_then(|json| json.0.as_ref()).serialize(serializer)
}

impl PairSummary {
    /// The latest scores, if any were recorded.
    pub fn scores(&self) -> Option<&Scores> {
        self.scores.as_ref().and_then(|json| json.0.as_ref())
    }

    /// Drift by either rule.
    pub fn drifting(&self) -> bool {
        self.drift_alerted || self.composite_drift == Some(true)
    }
}

/// A training run, as the runs page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RunSummary {
    pub job_id: String,
    pub run_id: String,
    pub symbol: String,
    pub timeframe: String,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    pub artifact_version: Option<String>,
    pub error: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
}

/// A forecast job's row, as a run's page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ForecastSummary {
    pub job_id: String,
    pub symbol: String,
    pub timeframe: String,
    pub is_trained_ensemble: bool,
    pub direction: Option<String>,
    pub confidence: Option<f64>,
    pub artifact_version: Option<String>,
    pub error: Option<String>,
    pub generated_at: DateTime<Utc>,
}

/// Every job of one run (a trigger), by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunJobs {
    pub run_id: Uuid,
    pub training: Vec<RunSummary>,
    pub forecasts: Vec<ForecastSummary>,
    pub pings: usize,
}

/// Which runs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub symbol: Option<String>,
    pub status: Option<RunStatus>,
    pub limit: usize,
    pub offset: usize,
}

/// How the overview orders pairs: numbers best first, pairs without one last; ties (and
/// the default) by symbol and timeframe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PairOrder {
    #[default]
    Symbol,
    Accuracy,
    /// The live composite where there is one, else the training run's.
    Composite,
    Live,
    /// The last forecast, newest first.
    Forecast,
}

impl PairOrder {
    fn order_by(self) -> &'static str {
        match self {
            Self::Symbol => "symbol, timeframe",
            Self::Accuracy => "ensemble_accuracy desc nulls last, symbol, timeframe",
            Self::Composite => {
                "coalesce(live_composite, trained_composite) desc nulls last, symbol, timeframe"
            }
            Self::Live => "live_score desc nulls last, symbol, timeframe",
            Self::Forecast => "forecast_at desc nulls last, symbol, timeframe",
        }
    }
}

/// Which pairs the overview lists, and which page of them.
#[derive(Debug, Clone, Default)]
pub struct PairFilter {
    /// Symbols starting with this; empty for all.
    pub symbol_prefix: String,
    pub timeframe: Option<String>,
    /// Only models that beat their baselines (`true`) or only those that do not.
    pub beats_baselines: Option<bool>,
    /// Only drifting pairs (by either rule) or only the others.
    pub drifting: Option<bool>,
    pub order: PairOrder,
    pub limit: usize,
    pub offset: usize,
}

/// A pair's row of `pair_latest` (kept by triggers as results are inserted: see its
/// migration), with its drift alert; `scores` is left to the query that reads it.
const PAIR_COLUMNS: &str = "
    select p.symbol, p.timeframe, p.artifact_version, p.trained_at, p.ensemble_accuracy,
           p.ensemble_accuracy_low, p.ensemble_accuracy_high, p.majority_accuracy, p.beats_baselines,
           p.walk_forward_score, p.backtest_score, p.trained_composite, p.live_score, p.live_composite,
           p.composite_drift,
           exists (select 1 from drift_alerts d
                   where d.symbol = p.symbol and d.timeframe = p.timeframe
                     and d.artifact_version = p.artifact_version) as drift_alerted,
           p.forecast_direction, p.forecast_confidence, p.forecast_bearish, p.forecast_neutral,
           p.forecast_bullish, p.forecast_at, p.rf_weight, p.gb_weight";

impl Database {
    /// The overview's page of pairs, without their scores (they live in each run's
    /// evaluation JSON, which the overview needs none of), and how many match in all.
    pub async fn pair_summaries(
        &self,
        filter: &PairFilter,
    ) -> Result<(Vec<PairSummary>, usize), DatabaseError> {
        // Filtered in SQL: paging 5,000 pairs in memory cost more than the query
        // (docs/benchmarks.md). `substr` compares a prefix without LIKE's wildcards.
        let matching = format!(
            "select * from ({PAIR_COLUMNS}, null as scores from pair_latest p) p
             where substr(symbol, 1, length($1)) = $1 and ($2 = '' or timeframe = $2)
               and ($3 is null or coalesce(beats_baselines, false) = $3)
               and ($4 is null or (drift_alerted or coalesce(composite_drift, false)) = $4)"
        );
        let page = format!("{matching} order by {} limit $5 offset $6", filter.order.order_by());
        let count = format!("select count(*) from ({matching}) matching");
        let timeframe = filter.timeframe.as_deref().unwrap_or("");
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);
        // Both statements take the filter as their first four parameters.
        macro_rules! filtered {
            ($statement:expr) => {
                $statement
                    .bind(&filter.symbol_prefix)
                    .bind(timeframe)
                    .bind(filter.beats_baselines)
                    .bind(filter.drifting)
            };
        }
        let (pairs, total): (Vec<PairSummary>, i64) = on_either!(self, |pool| {
            let pairs = filtered!(sqlx::query_as(sqlx::AssertSqlSafe(page)))
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await;
            let total = filtered!(sqlx::query_scalar(sqlx::AssertSqlSafe(count))).fetch_one(pool).await;
            pairs.and_then(|pairs| Ok((pairs, total?)))
        })
        .map_err(query_error("read the pairs' summaries"))?;
        Ok((pairs, usize::try_from(total).unwrap_or_default()))
    }

    /// One symbol's pairs, by timeframe, with their latest scores: the last live score's
    /// (with the live score in it), else the training run's.
    pub async fn symbol_summaries(&self, symbol: &str) -> Result<Vec<PairSummary>, DatabaseError> {
        let statement = format!(
            "{PAIR_COLUMNS}, coalesce(l.scores, t.evaluation -> 'scores') as scores
             from pair_latest p
             left join live_scores l on l.job_id = p.live_job_id
             left join training_runs t on t.job_id = p.run_job_id
             where p.symbol = $1 order by p.timeframe"
        );
        on_either!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(statement))
            .bind(symbol)
            .fetch_all(pool)
            .await)
        .map_err(query_error(format!("read the summaries of {symbol}")))
    }

    /// The jobs of one run, each kind by symbol and timeframe.
    pub async fn run_jobs(&self, run_id: Uuid) -> Result<RunJobs, DatabaseError> {
        const TRAINING: &str = "select job_id, cast(run_id as text) as run_id, symbol, timeframe, status,
                                       artifact_version, error, started_at, finished_at
                                from training_runs where run_id = $1 order by symbol, timeframe";
        const FORECASTS: &str =
            "select job_id, symbol, timeframe, is_trained_ensemble, direction, confidence,
                                        artifact_version, error, generated_at
                                 from ml_forecasts where run_id = $1 order by symbol, timeframe";
        // Postgres stores the run id as a uuid, SQLite as its text.
        macro_rules! with_run_id {
            ($statement:expr, $fetch:ident) => {
                match self {
                    Database::Postgres(pool) => $statement.bind(run_id).$fetch(pool).await,
                    Database::Sqlite(pool) => {
                        $statement.bind(run_id.hyphenated().to_string()).$fetch(pool).await
                    }
                }
            };
        }
        let what = || format!("read the jobs of run {run_id}");
        let training = with_run_id!(sqlx::query_as(TRAINING), fetch_all).map_err(query_error(what()))?;
        let forecasts = with_run_id!(sqlx::query_as(FORECASTS), fetch_all).map_err(query_error(what()))?;
        let pings = self.pings(run_id).await?;
        Ok(RunJobs { run_id, training, forecasts, pings })
    }

    /// Training runs, newest first, and how many match the filter in all.
    pub async fn run_summaries(&self, filter: &RunFilter) -> Result<(Vec<RunSummary>, usize), DatabaseError> {
        const WHERE: &str = "where ($1 = '' or symbol = $1) and ($2 = '' or status = $2)";
        let page = format!(
            "select job_id, cast(run_id as text) as run_id, symbol, timeframe, status, artifact_version, error,
                    started_at, finished_at
             from training_runs {WHERE} order by finished_at desc, job_id limit $3 offset $4"
        );
        let count = format!("select count(*) from training_runs {WHERE}");
        let symbol = filter.symbol.as_deref().unwrap_or("");
        let status = filter.status.map_or("", RunStatus::as_str);
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);
        let (runs, total): (Vec<RunSummary>, i64) = on_either!(self, |pool| {
            let runs = sqlx::query_as(sqlx::AssertSqlSafe(page))
                .bind(symbol)
                .bind(status)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await;
            let total = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
                .bind(symbol)
                .bind(status)
                .fetch_one(pool)
                .await;
            runs.and_then(|runs| Ok((runs, total?)))
        })
        .map_err(query_error("read the training runs"))?;
        Ok((runs, usize::try_from(total).unwrap_or_default()))
    }
}
