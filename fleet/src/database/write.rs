//! Writing results: each [`JobResult`] as its table's row, a JSON object whose keys are the
//! columns, which Postgres turns into typed rows with `jsonb_populate_recordset` and SQLite
//! with `json_each` (one bind parameter for a whole batch either way).
//!
//! Only the collector writes results: it is the one crate that names [`ResultsWriter`]
//! (`fleet/tests/database.rs` checks that every other crate's sources leave it alone).

use std::collections::BTreeSet;

use std::collections::HashMap;

use ml_core::job::{ForecastStatus, JobResult, LiveScore, Outcome, TrainStatus};
use ml_core::model::Evaluation;
use ml_core::model::metrics::Metrics;
use serde_json::{Value, json};

use super::{Database, DatabaseError, query_error};

/// The writing end of the results database.
#[derive(Debug, Clone)]
pub struct ResultsWriter {
    database: Database,
}

impl ResultsWriter {
    pub fn new(database: Database) -> Self {
        Self { database }
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Writes rows in one transaction, one statement per table whatever the number of rows;
    /// a job already recorded is left as it is. Returns how many rows went to each table.
    pub async fn insert<'a>(
        &self,
        rows: impl Iterator<Item = (Table, &'a Value)>,
    ) -> Result<Vec<(Table, usize)>, DatabaseError> {
        let mut by_table: HashMap<Table, Vec<&Value>> = HashMap::new();
        for (table, row) in rows {
            by_table.entry(table).or_default().push(row);
        }
        let batches: Vec<(Table, &Vec<&Value>)> =
            Table::ALL.into_iter().filter_map(|table| Some((table, by_table.get(&table)?))).collect();
        let what = "write a batch of results";
        match &self.database {
            Database::Postgres(pool) => {
                let mut transaction = pool.begin().await.map_err(query_error(what))?;
                for (table, rows) in &batches {
                    sqlx::query(table.insert_statement())
                        .bind(sqlx::types::Json(rows))
                        .execute(&mut *transaction)
                        .await
                        .map_err(query_error(format!("write {}", table.name())))?;
                }
                transaction.commit().await.map_err(query_error(what))?;
            }
            Database::Sqlite(pool) => {
                let mut transaction = pool.begin().await.map_err(query_error(what))?;
                for (table, rows) in &batches {
                    sqlx::query(sqlx::AssertSqlSafe(sqlite_insert_statement(*table, rows)))
                        .bind(sqlx::types::Json(rows))
                        .execute(&mut *transaction)
                        .await
                        .map_err(query_error(format!("write {}", table.name())))?;
                }
                transaction.commit().await.map_err(query_error(what))?;
            }
        }
        Ok(batches.into_iter().map(|(table, rows)| (table, rows.len())).collect())
    }
}

/// The table a result goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    TrainingRuns,
    Forecasts,
    ForecastOutcomes,
    DriftAlerts,
    LiveScores,
    Pings,
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::TrainingRuns,
        Table::Forecasts,
        Table::ForecastOutcomes,
        Table::DriftAlerts,
        Table::LiveScores,
        Table::Pings,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::TrainingRuns => "training_runs",
            Self::Forecasts => "ml_forecasts",
            Self::ForecastOutcomes => "forecast_outcomes",
            Self::DriftAlerts => "drift_alerts",
            Self::LiveScores => "live_scores",
            Self::Pings => "pings",
        }
    }

    /// Inserts the rows of a JSON array (bound as `$1`); keys are column names, missing keys
    /// are null, and a job already recorded is left as it is.
    fn insert_statement(self) -> &'static str {
        match self {
            Self::TrainingRuns => {
                "insert into training_runs select * from jsonb_populate_recordset(null::training_runs, $1) \
                 on conflict (job_id) do nothing"
            }
            Self::Forecasts => {
                "insert into ml_forecasts select * from jsonb_populate_recordset(null::ml_forecasts, $1) \
                 on conflict (job_id) do nothing"
            }
            Self::ForecastOutcomes => {
                "insert into forecast_outcomes select * from jsonb_populate_recordset(null::forecast_outcomes, $1) \
                 on conflict (forecast_job_id) do nothing"
            }
            Self::DriftAlerts => {
                "insert into drift_alerts select * from jsonb_populate_recordset(null::drift_alerts, $1) \
                 on conflict (job_id) do nothing"
            }
            Self::LiveScores => {
                "insert into live_scores select * from jsonb_populate_recordset(null::live_scores, $1) \
                 on conflict (job_id) do nothing"
            }
            Self::Pings => {
                "insert into pings select * from jsonb_populate_recordset(null::pings, $1) \
                 on conflict (job_id) do nothing"
            }
        }
    }
}

/// The SQLite statement that inserts `rows` (a JSON array bound as `?1`) into `table`: the
/// columns are the rows' keys, which are this module's own names, never input; the values
/// are bound. A job already recorded is left as it is.
fn sqlite_insert_statement(table: Table, rows: &[&Value]) -> String {
    let columns: BTreeSet<&str> = rows
        .iter()
        .filter_map(|row| row.as_object())
        .flat_map(|row| row.keys().map(String::as_str))
        .collect();
    debug_assert!(
        columns.iter().all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')),
        "column names are identifiers: {columns:?}"
    );
    let names = columns.iter().copied().collect::<Vec<_>>().join(", ");
    let values =
        columns.iter().map(|column| format!("value ->> '$.{column}'")).collect::<Vec<_>>().join(", ");
    // `where true` tells SQLite's parser that `on conflict` belongs to the insert.
    format!(
        "insert into {} ({names}) select {values} from json_each(?1) where true on conflict do nothing",
        table.name()
    )
}

/// The row of a result, and its table.
pub fn row(result: &JobResult) -> (Table, Value) {
    let common = json!({
        "job_id": result.job_id,
        "run_id": result.run_id,
        "worker_id": result.worker_id,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
    });
    match &result.outcome {
        Outcome::Train { pair, snapshot, config_sha256, status } => {
            let mut row = merge(
                common,
                json!({
                    "symbol": pair.symbol,
                    "timeframe": pair.timeframe,
                    "data_sha256": snapshot.sha256,
                    "snapshot_key": snapshot.key,
                    "config_sha256": config_sha256,
                    "bars": snapshot.bars,
                }),
            );
            row = merge(row, train_status(status));
            (Table::TrainingRuns, row)
        }
        Outcome::Forecast { pair, status } => {
            let row = merge(
                json!({
                    "job_id": result.job_id,
                    "run_id": result.run_id,
                    "worker_id": result.worker_id,
                    "generated_at": result.finished_at,
                    "symbol": pair.symbol,
                    "timeframe": pair.timeframe,
                }),
                forecast_status(status),
            );
            (Table::Forecasts, row)
        }
        Outcome::ForecastOutcome(outcome) => (
            Table::ForecastOutcomes,
            json!({
                "forecast_job_id": outcome.forecast_job_id,
                "run_id": result.run_id,
                "symbol": outcome.pair.symbol,
                "timeframe": outcome.pair.timeframe,
                "artifact_version": outcome.artifact_version,
                "bar_ts": outcome.bar_ts,
                "horizon": outcome.horizon,
                "predicted": outcome.predicted,
                "realized": outcome.realized,
                "correct": outcome.predicted == outcome.realized,
                "realized_return": outcome.realized_return,
                "next_return": outcome.next_return,
                "realized_at": outcome.realized_at,
                "evaluated_at": result.finished_at,
            }),
        ),
        Outcome::DriftAlert(alert) => (
            Table::DriftAlerts,
            json!({
                "job_id": result.job_id,
                "run_id": result.run_id,
                "symbol": alert.pair.symbol,
                "timeframe": alert.pair.timeframe,
                "artifact_version": alert.artifact_version,
                "live_accuracy": alert.live_accuracy,
                "validation_accuracy": alert.validation_accuracy,
                "evaluated": alert.evaluated,
                "max_drop": alert.max_drop,
                "window_start": alert.window_start,
                "retrain_job_id": alert.retrain_job_id,
                "raised_at": result.finished_at,
            }),
        ),
        Outcome::LiveScore(live) => (Table::LiveScores, live_score(result, live)),
        Outcome::Ping => (
            Table::Pings,
            json!({
                "job_id": result.job_id,
                "run_id": result.run_id,
                "worker_id": result.worker_id,
                "finished_at": result.finished_at,
            }),
        ),
    }
}

fn live_score(result: &JobResult, live: &LiveScore) -> Value {
    let backtest = live.backtest.as_ref();
    json!({
        "job_id": result.job_id,
        "run_id": result.run_id,
        "symbol": live.pair.symbol,
        "timeframe": live.pair.timeframe,
        "artifact_version": live.artifact_version,
        "evaluated": live.evaluated,
        "live_accuracy": live.live_accuracy,
        "majority_accuracy": live.majority_accuracy,
        "live_score": live.scores.live.as_ref().map(|s| s.value),
        "backtest_score": live.scores.backtest.value,
        "composite": live.composite.value,
        "composite_drift": live.composite.drift,
        "live_sharpe": backtest.and_then(|b| b.long_short.sharpe),
        "live_total_return": backtest.map(|b| b.long_short.total_return),
        "buy_hold_total_return": backtest.map(|b| b.buy_and_hold.total_return),
        "scores": live.scores,
        "backtest": live.backtest,
        "evaluated_at": result.finished_at,
    })
}

/// The summary columns of a succeeded run's evaluation (docs/metrics.md defines them).
fn evaluation_columns(evaluation: &Evaluation) -> Value {
    let rules = evaluation.rules.as_ref();
    let pooled = evaluation.walk_forward.as_ref().map(|w| &w.pooled);
    let backtest = evaluation.backtest.as_ref();
    let scores = evaluation.scores.as_ref();
    json!({
        "ensemble_rule": rules.map(|r| r.ensemble.as_str()),
        "threshold_rule": rules.map(|r| r.threshold_rule.as_str()),
        "label_threshold": rules.map(|r| r.labels.threshold),
        "walk_forward_accuracy": pooled.map(|p| p.ensemble.accuracy.value),
        "walk_forward_majority_accuracy": pooled.map(|p| p.majority.accuracy.value),
        "backtest_total_return": backtest.map(|b| b.long_short.total_return),
        "backtest_sharpe": backtest.and_then(|b| b.long_short.sharpe),
        "probabilistic_sharpe": backtest.and_then(|b| b.long_short.probabilistic_sharpe),
        "buy_hold_total_return": backtest.map(|b| b.buy_and_hold.total_return),
        "buy_hold_sharpe": backtest.and_then(|b| b.buy_and_hold.sharpe),
        "backtest_score": scores.map(|s| s.backtest.value),
        "walk_forward_score": scores.and_then(|s| s.walk_forward.as_ref()).map(|s| s.value),
        "composite": evaluation.composite.as_ref().map(|c| c.value),
        "calibration_ece": evaluation.calibration.as_ref().map(|c| c.ece),
    })
}

fn train_status(status: &TrainStatus) -> Value {
    match status {
        TrainStatus::Failed { error } => json!({ "status": "failed", "error": error }),
        TrainStatus::UpToDate { artifact_version } => {
            json!({ "status": "up_to_date", "artifact_version": artifact_version })
        }
        TrainStatus::Succeeded { artifact, evaluation, promoted, promotion_note } => {
            let accuracy = |metrics: &Metrics| metrics.accuracy.value;
            let ensemble = &evaluation.ensemble.validation;
            let row = json!({
                "status": "succeeded",
                "artifact_uri": artifact.uri,
                "artifact_version": artifact.version,
                "promoted": promoted,
                "promotion_note": promotion_note,
                "train_rows": evaluation.samples.train_rows,
                "purged_rows": evaluation.samples.purged_rows,
                "validation_rows": evaluation.samples.validation_rows,
                "rf_accuracy": accuracy(&evaluation.random_forest.validation),
                "gb_accuracy": accuracy(&evaluation.gradient_boosting.validation),
                "ensemble_accuracy": ensemble.accuracy.value,
                "ensemble_accuracy_low": ensemble.accuracy.low,
                "ensemble_accuracy_high": ensemble.accuracy.high,
                "ensemble_log_loss": ensemble.log_loss,
                "ensemble_brier": ensemble.brier,
                "majority_accuracy": accuracy(&evaluation.baselines.majority),
                "persistence_accuracy": accuracy(&evaluation.baselines.persistence),
                "beats_baselines": evaluation.verdict.beats_majority && evaluation.verdict.beats_persistence,
                "rf_weight": evaluation.weights[0],
                "gb_weight": evaluation.weights[1],
                "evaluation": evaluation,
            });
            merge(row, evaluation_columns(evaluation))
        }
    }
}

fn forecast_status(status: &ForecastStatus) -> Value {
    match status {
        ForecastStatus::Predicted { forecast, artifact_version } => json!({
            "is_trained_ensemble": true,
            "horizon": forecast.horizon,
            "label_threshold": forecast.threshold,
            "direction": forecast.direction,
            "confidence": forecast.confidence,
            "prob_bearish": forecast.probabilities[0],
            "prob_neutral": forecast.probabilities[1],
            "prob_bullish": forecast.probabilities[2],
            "artifact_version": artifact_version,
            "bar_ts": forecast.bar_ts,
        }),
        ForecastStatus::NoModel { reason } => json!({ "is_trained_ensemble": false, "error": reason }),
        ForecastStatus::Failed { error } => json!({ "is_trained_ensemble": false, "error": error }),
    }
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
        base.extend(extra);
    }
    base
}
