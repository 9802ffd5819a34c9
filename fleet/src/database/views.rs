//! What the dashboard shows: one summary row per pair, and the training runs. Read-only.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::model::scores::Scores;

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

impl Database {
    /// Every pair with a training run or a forecast, by symbol and timeframe; or only
    /// `symbol`'s, with their scores. Without a symbol the scores are left out: they live in
    /// each run's evaluation, whose JSON the database would parse for every pair (SQLite
    /// spent 0.7 s on it for 5,000 pairs, docs/benchmarks.md), and the overview needs none.
    pub async fn pair_summaries(&self, symbol: Option<&str>) -> Result<Vec<PairSummary>, DatabaseError> {
        // Window functions and `exists` read the same in Postgres and SQLite (3.25+).
        const SUMMARIES: &str = "
            with pairs as (select symbol, timeframe from training_runs
                           union select symbol, timeframe from ml_forecasts),
                 runs as (select symbol, timeframe, artifact_version, finished_at, ensemble_accuracy,
                                 ensemble_accuracy_low, ensemble_accuracy_high, majority_accuracy,
                                 beats_baselines, walk_forward_score, backtest_score, composite,
                                 rf_weight, gb_weight, job_id,
                                 row_number() over (partition by symbol, timeframe order by finished_at desc) as nth
                          from training_runs where status = 'succeeded'),
                 live as (select symbol, timeframe, live_score, composite, composite_drift, scores,
                                 row_number() over (partition by symbol, timeframe order by evaluated_at desc) as nth
                          from live_scores),
                 forecasts as (select symbol, timeframe, direction, confidence, generated_at,
                                      prob_bearish, prob_neutral, prob_bullish,
                                      row_number() over (partition by symbol, timeframe order by generated_at desc) as nth
                               from ml_forecasts where is_trained_ensemble)
            select p.symbol, p.timeframe, r.artifact_version, r.finished_at as trained_at,
                   r.ensemble_accuracy, r.ensemble_accuracy_low, r.ensemble_accuracy_high,
                   r.majority_accuracy, r.beats_baselines, r.walk_forward_score, r.backtest_score,
                   r.composite as trained_composite, l.live_score, l.composite as live_composite,
                   l.composite_drift,
                   exists (select 1 from drift_alerts d
                           where d.symbol = p.symbol and d.timeframe = p.timeframe
                             and d.artifact_version = r.artifact_version) as drift_alerted,
                   f.direction as forecast_direction, f.confidence as forecast_confidence,
                   f.prob_bearish as forecast_bearish, f.prob_neutral as forecast_neutral,
                   f.prob_bullish as forecast_bullish, f.generated_at as forecast_at,
                   r.rf_weight, r.gb_weight,
                   case when cast($1 as text) is null then null
                        else coalesce(l.scores, (select t.evaluation -> 'scores' from training_runs t
                                                 where t.job_id = r.job_id)) end as scores
            from pairs p
            left join runs r on r.symbol = p.symbol and r.timeframe = p.timeframe and r.nth = 1
            left join live l on l.symbol = p.symbol and l.timeframe = p.timeframe and l.nth = 1
            left join forecasts f on f.symbol = p.symbol and f.timeframe = p.timeframe and f.nth = 1
            where cast($1 as text) is null or p.symbol = $1
            order by p.symbol, p.timeframe";
        on_either!(self, |pool| sqlx::query_as(SUMMARIES).bind(symbol).fetch_all(pool).await)
            .map_err(query_error("read the pairs' summaries"))
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
