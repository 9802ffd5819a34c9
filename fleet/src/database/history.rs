//! A pair's record for the dashboard's model page: its training runs over time, the latest
//! succeeded run's whole evaluation, and its trained models' forecasts with their outcomes.
//! Read-only.

use chrono::{DateTime, Utc};
use ml_core::job::Pair;
use ml_core::model::Evaluation;
use serde::Serialize;

use super::{Database, DatabaseError, on_either, query_error};

/// One succeeded training run of a pair: its validation accuracy with its interval beside the
/// majority baseline.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RunPoint {
    pub artifact_version: Option<String>,
    pub finished_at: DateTime<Utc>,
    pub ensemble_accuracy: Option<f64>,
    pub ensemble_accuracy_low: Option<f64>,
    pub ensemble_accuracy_high: Option<f64>,
    pub majority_accuracy: Option<f64>,
}

/// A trained model's forecast of the pair, and what happened once its horizon passed.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct LiveForecast {
    pub bar_ts: Option<DateTime<Utc>>,
    pub generated_at: DateTime<Utc>,
    pub artifact_version: Option<String>,
    pub horizon: Option<i32>,
    pub direction: Option<String>,
    pub confidence: Option<f64>,
    /// The direction the horizon's return had under the model's label rule, and whether
    /// the forecast was right, as `boltfleet evaluate` scored it; `None` until then.
    pub realized: Option<String>,
    pub correct: Option<bool>,
    pub realized_return: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct EvaluationRow {
    artifact_version: Option<String>,
    evaluation: Option<sqlx::types::Json<Evaluation>>,
}

impl Database {
    /// The pair's succeeded training runs, oldest first.
    pub async fn run_history(&self, pair: &Pair) -> Result<Vec<RunPoint>, DatabaseError> {
        const HISTORY: &str =
            "select artifact_version, finished_at, ensemble_accuracy, ensemble_accuracy_low,
                                      ensemble_accuracy_high, majority_accuracy
                               from training_runs
                               where symbol = $1 and timeframe = $2 and status = 'succeeded'
                               order by finished_at";
        on_either!(self, |pool| {
            sqlx::query_as(HISTORY)
                .bind(pair.symbol.as_str())
                .bind(pair.timeframe.as_str())
                .fetch_all(pool)
                .await
        })
        .map_err(query_error(format!("read the training history of {pair}")))
    }

    /// The latest succeeded run's model version and evaluation, if any.
    pub async fn latest_evaluation(
        &self,
        pair: &Pair,
    ) -> Result<Option<(String, Evaluation)>, DatabaseError> {
        const LATEST: &str = "select artifact_version, evaluation from training_runs
                              where symbol = $1 and timeframe = $2 and status = 'succeeded'
                              order by finished_at desc limit 1";
        let row: Option<EvaluationRow> = on_either!(self, |pool| {
            sqlx::query_as(LATEST)
                .bind(pair.symbol.as_str())
                .bind(pair.timeframe.as_str())
                .fetch_optional(pool)
                .await
        })
        .map_err(query_error(format!("read the latest evaluation of {pair}")))?;
        Ok(row.and_then(|row| Some((row.artifact_version?, row.evaluation?.0))))
    }

    /// The pair's latest `limit` forecasts by trained models, newest first, each with its
    /// outcome once scored.
    pub async fn live_forecasts(
        &self,
        pair: &Pair,
        limit: usize,
    ) -> Result<Vec<LiveForecast>, DatabaseError> {
        const FORECASTS: &str = "select f.bar_ts, f.generated_at, f.artifact_version, f.horizon, f.direction,
                                        f.confidence, o.realized, o.correct, o.realized_return
                                 from ml_forecasts f
                                 left join forecast_outcomes o on o.forecast_job_id = f.job_id
                                 where f.symbol = $1 and f.timeframe = $2 and f.is_trained_ensemble
                                 order by f.bar_ts desc nulls last, f.generated_at desc limit $3";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_either!(self, |pool| {
            sqlx::query_as(FORECASTS)
                .bind(pair.symbol.as_str())
                .bind(pair.timeframe.as_str())
                .bind(limit)
                .fetch_all(pool)
                .await
        })
        .map_err(query_error(format!("read the forecasts of {pair}")))
    }
}
