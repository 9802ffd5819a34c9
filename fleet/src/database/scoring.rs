//! What `boltfleet evaluate` reads to score forecasts and judge models: forecasts due for
//! scoring, scored ones, trained models' signals, drift alerts raised, and what a model's
//! training run recorded.

use chrono::{DateTime, Utc};
use ml_core::job::Pair;
use ml_core::labels::Direction;
pub use ml_core::model::live::{DueForecast, ModelRecord, Scored, Signal};
use ml_core::model::scores::Scores;

use super::{Database, DatabaseError, PairRow, on_either, query_error, sqlite_time};

fn direction(text: &str) -> Result<Direction, DatabaseError> {
    text.parse().map_err(|e: String| DatabaseError::Row { detail: e })
}

fn horizon(value: i32) -> Result<usize, DatabaseError> {
    usize::try_from(value).map_err(|_| DatabaseError::Row { detail: format!("horizon {value} is negative") })
}

#[derive(sqlx::FromRow)]
struct DueRow {
    job_id: String,
    symbol: String,
    timeframe: String,
    artifact_version: Option<String>,
    bar_ts: DateTime<Utc>,
    horizon: i32,
    direction: String,
    label_threshold: Option<f64>,
    close_at: f64,
    close_next: Option<f64>,
    realized_at: DateTime<Utc>,
    close_after: f64,
}

#[derive(sqlx::FromRow)]
struct ScoredRow {
    forecast_job_id: String,
    symbol: String,
    timeframe: String,
    artifact_version: Option<String>,
    bar_ts: DateTime<Utc>,
    predicted: String,
    realized: String,
    next_return: Option<f64>,
}

/// A JSON value of the evaluation column: SQL null where the run has no evaluation, JSON null
/// where the evaluation predates the field.
type EvaluationField<T> = Option<sqlx::types::Json<Option<T>>>;

#[derive(sqlx::FromRow)]
struct RecordRow {
    ensemble_accuracy: Option<f64>,
    majority_class: EvaluationField<Direction>,
    scores: EvaluationField<Scores>,
    bars_per_year: EvaluationField<f64>,
    cost_bps: EvaluationField<f64>,
}

#[derive(sqlx::FromRow)]
struct SignalRow {
    symbol: String,
    timeframe: String,
    bar_ts: DateTime<Utc>,
    horizon: i32,
    direction: String,
    prob_bearish: f64,
    prob_neutral: f64,
    prob_bullish: f64,
}

impl Database {
    /// Forecasts of trained models, not scored yet, whose horizon bar has arrived, with the
    /// close at the forecast and `horizon` bars later.
    pub async fn due_forecasts(&self) -> Result<Vec<DueForecast>, DatabaseError> {
        const SELECT: &str = "select f.job_id, f.symbol, f.timeframe, f.artifact_version, f.bar_ts, f.horizon,
                                     f.direction, f.label_threshold, at_bar.close as close_at,
                                     (select b.close from ohlc_bars b
                                      where b.symbol = f.symbol and b.timeframe = f.timeframe and b.ts > f.bar_ts
                                      order by b.ts limit 1) as close_next,
                                     later.ts as realized_at, later.close as close_after
                              from ml_forecasts f
                              join ohlc_bars at_bar
                                on at_bar.symbol = f.symbol and at_bar.timeframe = f.timeframe and at_bar.ts = f.bar_ts";
        const DUE: &str = "where f.is_trained_ensemble and f.direction is not null and f.horizon > 0
                             and not exists (select 1 from forecast_outcomes o where o.forecast_job_id = f.job_id)
                           order by f.bar_ts";
        let rows: Vec<DueRow> = match self {
            Database::Postgres(pool) => {
                let later = "cross join lateral (
                                 select b.ts, b.close from ohlc_bars b
                                 where b.symbol = f.symbol and b.timeframe = f.timeframe and b.ts > f.bar_ts
                                 order by b.ts offset greatest(f.horizon - 1, 0) limit 1
                             ) later";
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} {later} {DUE}"))).fetch_all(pool).await
            }
            Database::Sqlite(pool) => {
                // No lateral joins: the later bar is the one with `horizon - 1` bars between.
                let later = "join ohlc_bars later
                               on later.symbol = f.symbol and later.timeframe = f.timeframe and later.ts > f.bar_ts
                              and (select count(*) from ohlc_bars b
                                   where b.symbol = f.symbol and b.timeframe = f.timeframe
                                     and b.ts > f.bar_ts and b.ts < later.ts) = max(f.horizon - 1, 0)";
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} {later} {DUE}"))).fetch_all(pool).await
            }
        }
        .map_err(query_error("read the forecasts due for scoring"))?;
        rows.into_iter()
            .map(|row| {
                Ok(DueForecast {
                    pair: PairRow { symbol: row.symbol, timeframe: row.timeframe }.pair()?,
                    job_id: row.job_id,
                    artifact_version: row.artifact_version,
                    bar_ts: row.bar_ts,
                    horizon: horizon(row.horizon)?,
                    predicted: direction(&row.direction)?,
                    threshold: row.label_threshold,
                    close_at: row.close_at,
                    close_next: row.close_next,
                    close_after: row.close_after,
                    realized_at: row.realized_at,
                })
            })
            .collect()
    }

    /// Scored forecasts made at or after `since` (bar time).
    pub async fn scored_forecasts(&self, since: DateTime<Utc>) -> Result<Vec<Scored>, DatabaseError> {
        const SCORED: &str = "select forecast_job_id, symbol, timeframe, artifact_version, bar_ts, predicted,
                                     realized, next_return
                              from forecast_outcomes where bar_ts >= $1";
        let rows: Vec<ScoredRow> = match self {
            Database::Postgres(pool) => sqlx::query_as(SCORED).bind(since).fetch_all(pool).await,
            Database::Sqlite(pool) => sqlx::query_as(SCORED).bind(sqlite_time(since)).fetch_all(pool).await,
        }
        .map_err(query_error("read forecast_outcomes"))?;
        rows.into_iter()
            .map(|row| {
                Ok(Scored {
                    pair: PairRow { symbol: row.symbol, timeframe: row.timeframe }.pair()?,
                    forecast_job_id: row.forecast_job_id,
                    artifact_version: row.artifact_version,
                    bar_ts: row.bar_ts,
                    predicted: direction(&row.predicted)?,
                    realized: direction(&row.realized)?,
                    next_return: row.next_return,
                })
            })
            .collect()
    }

    /// Every (pair, model) that already raised a drift alert.
    pub async fn drift_alerted(&self) -> Result<Vec<(Pair, Option<String>)>, DatabaseError> {
        const ALERTED: &str = "select distinct symbol, timeframe, artifact_version from drift_alerts";
        let rows: Vec<(String, String, Option<String>)> =
            on_either!(self, |pool| sqlx::query_as(ALERTED).fetch_all(pool).await)
                .map_err(query_error("read drift_alerts"))?;
        rows.into_iter()
            .map(|(symbol, timeframe, version)| Ok((PairRow { symbol, timeframe }.pair()?, version)))
            .collect()
    }

    /// What a model's training run recorded, from its row.
    pub async fn model_record(&self, artifact_version: &str) -> Result<ModelRecord, DatabaseError> {
        const RECORD: &str = "select ensemble_accuracy,
                                     evaluation -> 'baselines' -> 'majority_class' as majority_class,
                                     evaluation -> 'scores' as scores,
                                     evaluation -> 'backtest' -> 'bars_per_year' as bars_per_year,
                                     evaluation -> 'backtest' -> 'cost_bps' as cost_bps
                              from training_runs
                              where artifact_version = $1 and status = 'succeeded' order by finished_at limit 1";
        let row: Option<RecordRow> =
            on_either!(self, |pool| sqlx::query_as(RECORD).bind(artifact_version).fetch_optional(pool).await)
                .map_err(query_error(format!("read the training run of model {artifact_version}")))?;
        fn field<T>(value: EvaluationField<T>) -> Option<T> {
            value.and_then(|json| json.0)
        }
        Ok(row.map_or_else(ModelRecord::default, |row| ModelRecord {
            validation_accuracy: row.ensemble_accuracy,
            majority_class: field(row.majority_class),
            scores: field(row.scores),
            bars_per_year: field(row.bars_per_year),
            cost_bps: field(row.cost_bps),
        }))
    }

    /// Trained models' forecasts made at or after `since` (bar time), oldest first.
    pub async fn forecast_signals(&self, since: DateTime<Utc>) -> Result<Vec<Signal>, DatabaseError> {
        const SIGNALS: &str =
            "select symbol, timeframe, bar_ts, horizon, direction, prob_bearish, prob_neutral, prob_bullish
             from ml_forecasts
             where is_trained_ensemble and direction is not null and bar_ts >= $1
               and prob_bearish is not null and prob_neutral is not null and prob_bullish is not null
             order by bar_ts";
        let rows: Vec<SignalRow> = match self {
            Database::Postgres(pool) => sqlx::query_as(SIGNALS).bind(since).fetch_all(pool).await,
            Database::Sqlite(pool) => sqlx::query_as(SIGNALS).bind(sqlite_time(since)).fetch_all(pool).await,
        }
        .map_err(query_error("read ml_forecasts"))?;
        rows.into_iter()
            .map(|row| {
                Ok(Signal {
                    pair: PairRow { symbol: row.symbol, timeframe: row.timeframe }.pair()?,
                    bar_ts: row.bar_ts,
                    horizon: horizon(row.horizon)?,
                    direction: direction(&row.direction)?,
                    probabilities: [row.prob_bearish, row.prob_neutral, row.prob_bullish],
                })
            })
            .collect()
    }
}
