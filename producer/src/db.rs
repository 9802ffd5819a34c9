//! The producer's database work: bars in (`ingest`), bars out (snapshots), and the questions
//! a trigger asks (which pairs exist, is a pair up to date, how far is a run), on Postgres or
//! on the embedded SQLite database.
//!
//! Statements whose text and parameters mean the same in both dialects run through
//! [`on_either`]; the others are written once per dialect, side by side.

use anyhow::Context;
use chrono::{DateTime, Utc};
use fleet::database::{Database, sqlite_time};
use shared::ingest::BarSeries;
use shared::job::Pair;
use shared::model::stats::Moments;
use shared::{Bar, Symbol, Timeframe};
use uuid::Uuid;

use shared::labels::Direction;
use shared::model::scores::Scores;

use crate::evaluate::{DueForecast, ModelRecord, Scored, Signal};

/// Bars per insert statement: large enough to be fast, small enough for one round trip.
const INSERT_CHUNK: usize = 5_000;

/// Runs the same statement on whichever pool `database` holds.
macro_rules! on_either {
    ($database:expr, |$pool:ident| $statement:expr) => {
        match $database {
            Database::Postgres($pool) => $statement,
            Database::Sqlite($pool) => $statement,
        }
    };
}

/// How an upsert of bars went.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub(crate) struct Loaded {
    /// New bars, and existing ones whose values changed.
    pub written: u64,
    /// Bars already stored with the same values.
    pub unchanged: u64,
}

/// Records the series' symbol, then runs `$statement` (which inserts the bars of `$chunk`)
/// for each chunk of bars, all in one transaction on `$pool`; evaluates to the [`Loaded`]
/// counts.
macro_rules! upsert_in_one_transaction {
    ($pool:expr, $series:expr, |$chunk:ident| $statement:expr) => {{
        let mut transaction = $pool.begin().await?;
        sqlx::query("insert into symbols (ticker) values ($1) on conflict do nothing")
            .bind($series.symbol.as_str())
            .execute(&mut *transaction)
            .await
            .with_context(|| format!("cannot record symbol {}", $series.symbol))?;
        let mut loaded = Loaded::default();
        for $chunk in $series.bars.chunks(INSERT_CHUNK) {
            let written = $statement
                .execute(&mut *transaction)
                .await
                .with_context(|| format!("cannot load the bars of {} {}", $series.symbol, $series.timeframe))?
                .rows_affected();
            loaded.written += written;
            loaded.unchanged += $chunk.len() as u64 - written;
        }
        transaction.commit().await?;
        loaded
    }};
}

/// Upserts a series into `ohlc_bars` (and its symbol into `symbols`), in one transaction.
pub(crate) async fn upsert_bars(
    database: &Database,
    series: &BarSeries,
    source: &str,
) -> anyhow::Result<Loaded> {
    // A bar already stored with the same values is not rewritten, so it counts as unchanged.
    Ok(match database {
        Database::Postgres(pool) => upsert_in_one_transaction!(pool, series, |chunk| {
            let column = |field: fn(&Bar) -> f64| chunk.iter().map(field).collect::<Vec<f64>>();
            let ts: Vec<DateTime<Utc>> = chunk.iter().map(|b| b.ts).collect();
            sqlx::query(
                "insert into ohlc_bars (symbol, timeframe, ts, open, high, low, close, volume, source)
                 select $1, $2, bar.* , $9
                 from unnest($3::timestamptz[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[])
                      as bar (ts, open, high, low, close, volume)
                 on conflict (symbol, timeframe, ts) do update
                     set open = excluded.open, high = excluded.high, low = excluded.low,
                         close = excluded.close, volume = excluded.volume, source = excluded.source
                     where (ohlc_bars.open, ohlc_bars.high, ohlc_bars.low, ohlc_bars.close, ohlc_bars.volume)
                           is distinct from
                           (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume)",
            )
            .bind(series.symbol.as_str())
            .bind(series.timeframe.as_str())
            .bind(ts)
            .bind(column(|b| b.open))
            .bind(column(|b| b.high))
            .bind(column(|b| b.low))
            .bind(column(|b| b.close))
            .bind(column(|b| b.volume))
            .bind(source)
        }),
        Database::Sqlite(pool) => upsert_in_one_transaction!(pool, series, |chunk| {
            // SQLite has no arrays: the chunk travels as one JSON array of rows.
            let rows: Vec<(String, f64, f64, f64, f64, f64)> =
                chunk.iter().map(|b| (sqlite_time(b.ts), b.open, b.high, b.low, b.close, b.volume)).collect();
            sqlx::query(
                "insert into ohlc_bars (symbol, timeframe, ts, open, high, low, close, volume, source)
                 select $1, $2, value ->> '$[0]', value ->> '$[1]', value ->> '$[2]', value ->> '$[3]',
                        value ->> '$[4]', value ->> '$[5]', $4
                 from json_each($3) where true
                 on conflict (symbol, timeframe, ts) do update
                     set open = excluded.open, high = excluded.high, low = excluded.low,
                         close = excluded.close, volume = excluded.volume, source = excluded.source
                     where (ohlc_bars.open, ohlc_bars.high, ohlc_bars.low, ohlc_bars.close, ohlc_bars.volume)
                           is not
                           (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume)",
            )
            .bind(series.symbol.as_str())
            .bind(series.timeframe.as_str())
            .bind(sqlx::types::Json(rows))
            .bind(source)
        }),
    })
}

#[derive(sqlx::FromRow)]
struct PairRow {
    symbol: String,
    timeframe: String,
}

impl PairRow {
    fn pair(&self) -> anyhow::Result<Pair> {
        Ok(Pair { symbol: self.symbol.parse()?, timeframe: self.timeframe.parse()? })
    }
}

/// The pairs with bars, restricted to the given symbols and timeframes when there are any.
pub(crate) async fn pairs(
    database: &Database,
    symbols: &[Symbol],
    timeframes: &[Timeframe],
) -> anyhow::Result<Vec<Pair>> {
    const PAIRS: &str = "select distinct symbol, timeframe from ohlc_bars order by symbol, timeframe";
    let rows: Vec<PairRow> = on_either!(database, |pool| sqlx::query_as(PAIRS).fetch_all(pool).await)
        .context("cannot list the pairs in ohlc_bars")?;
    let pairs = rows.iter().map(PairRow::pair).collect::<anyhow::Result<Vec<Pair>>>()?;
    Ok(pairs
        .into_iter()
        .filter(|pair| symbols.is_empty() || symbols.contains(&pair.symbol))
        .filter(|pair| timeframes.is_empty() || timeframes.contains(&pair.timeframe))
        .collect())
}

/// A pair's bars, oldest first; only the most recent `last` when given.
pub(crate) async fn bars(database: &Database, pair: &Pair, last: Option<usize>) -> anyhow::Result<Vec<Bar>> {
    const BARS: &str = "select ts, open, high, low, close, volume from ohlc_bars
                        where symbol = $1 and timeframe = $2 order by ts desc limit $3";
    let limit = last.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let rows: Vec<(DateTime<Utc>, f64, f64, f64, f64, f64)> = on_either!(database, |pool| {
        sqlx::query_as(BARS)
            .bind(pair.symbol.as_str())
            .bind(pair.timeframe.as_str())
            .bind(limit)
            .fetch_all(pool)
            .await
    })
    .with_context(|| format!("cannot read the bars of {pair}"))?;
    let mut bars: Vec<Bar> = rows
        .into_iter()
        .map(|(ts, open, high, low, close, volume)| Bar { ts, open, high, low, close, volume })
        .collect();
    bars.reverse();
    Ok(bars)
}

/// The model version of a succeeded run on the same data and configuration, if any.
pub(crate) async fn up_to_date(
    database: &Database,
    pair: &Pair,
    data_sha256: &str,
    config_sha256: &str,
) -> anyhow::Result<Option<String>> {
    const UP_TO_DATE: &str = "select artifact_version from training_runs
                              where symbol = $1 and timeframe = $2 and data_sha256 = $3 and config_sha256 = $4
                                and status = 'succeeded'
                              order by finished_at desc limit 1";
    let version: Option<Option<String>> = on_either!(database, |pool| {
        sqlx::query_scalar(UP_TO_DATE)
            .bind(pair.symbol.as_str())
            .bind(pair.timeframe.as_str())
            .bind(data_sha256)
            .bind(config_sha256)
            .fetch_optional(pool)
            .await
    })
    .with_context(|| format!("cannot look up earlier runs of {pair}"))?;
    Ok(version.flatten())
}

/// A training run's row, as the run's summary shows it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TrainRow {
    pub job_id: String,
    pub status: String,
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

/// A forecast's row, as the run's summary shows it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ForecastRow {
    pub job_id: String,
    pub is_trained_ensemble: bool,
    pub direction: Option<String>,
    pub confidence: Option<f64>,
    pub artifact_version: Option<String>,
    pub error: Option<String>,
}

/// The rows of `$statement` whose `job_id` (text in both dialects) is one of `$job_ids`:
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
        .context("cannot read the results of the run's jobs")
    }};
}

/// The training rows of these jobs (a run's own, and earlier ones it waits for) so far.
pub(crate) async fn train_rows(database: &Database, job_ids: &[Uuid]) -> anyhow::Result<Vec<TrainRow>> {
    const COLUMNS: &str = "job_id, status, promoted, promotion_note, ensemble_accuracy, ensemble_accuracy_low,
                           ensemble_accuracy_high, majority_accuracy, beats_baselines, artifact_version, error,
                           started_at, finished_at, backtest_sharpe, buy_hold_sharpe, composite,
                           evaluation -> 'backtest' -> 'long_short' -> 'return_moments' as return_moments,
                           (select count(*) from training_runs earlier
                            where earlier.symbol = training_runs.symbol and earlier.timeframe = training_runs.timeframe
                              and earlier.status = 'succeeded' and earlier.finished_at <= training_runs.finished_at)
                           as trials";
    of_jobs!(database, COLUMNS, "training_runs", job_ids)
}

/// The forecast rows of these jobs so far.
pub(crate) async fn forecast_rows(database: &Database, job_ids: &[Uuid]) -> anyhow::Result<Vec<ForecastRow>> {
    const COLUMNS: &str = "job_id, is_trained_ensemble, direction, confidence, artifact_version, error";
    of_jobs!(database, COLUMNS, "ml_forecasts", job_ids)
}

/// How many pings of a run were written.
pub(crate) async fn pings(database: &Database, run_id: Uuid) -> anyhow::Result<usize> {
    const COUNT: &str = "select count(*) from pings where run_id = $1";
    let count: i64 = match database {
        Database::Postgres(pool) => sqlx::query_scalar(COUNT).bind(run_id).fetch_one(pool).await,
        Database::Sqlite(pool) => sqlx::query_scalar(COUNT).bind(run_id.hyphenated()).fetch_one(pool).await,
    }
    .with_context(|| format!("cannot count the pings of run {run_id}"))?;
    Ok(usize::try_from(count).unwrap_or_default())
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

/// Forecasts of trained models, not scored yet, whose horizon bar has arrived, with the
/// close at the forecast and `horizon` bars later.
pub(crate) async fn due_forecasts(database: &Database) -> anyhow::Result<Vec<DueForecast>> {
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
    let rows: Vec<DueRow> = match database {
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
    .context("cannot read the forecasts due for scoring")?;
    rows.into_iter()
        .map(|row| {
            Ok(DueForecast {
                pair: PairRow { symbol: row.symbol, timeframe: row.timeframe }.pair()?,
                job_id: row.job_id,
                artifact_version: row.artifact_version,
                bar_ts: row.bar_ts,
                horizon: usize::try_from(row.horizon)?,
                predicted: row.direction.parse().map_err(anyhow::Error::msg)?,
                threshold: row.label_threshold,
                close_at: row.close_at,
                close_next: row.close_next,
                close_after: row.close_after,
                realized_at: row.realized_at,
            })
        })
        .collect()
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

/// Scored forecasts made at or after `since` (bar time).
pub(crate) async fn scored_forecasts(
    database: &Database,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<Scored>> {
    const SCORED: &str =
        "select forecast_job_id, symbol, timeframe, artifact_version, bar_ts, predicted, realized,
                                 next_return
                          from forecast_outcomes where bar_ts >= $1";
    let rows: Vec<ScoredRow> = match database {
        Database::Postgres(pool) => sqlx::query_as(SCORED).bind(since).fetch_all(pool).await,
        Database::Sqlite(pool) => sqlx::query_as(SCORED).bind(sqlite_time(since)).fetch_all(pool).await,
    }
    .context("cannot read forecast_outcomes")?;
    rows.into_iter()
        .map(|row| {
            Ok(Scored {
                pair: PairRow { symbol: row.symbol, timeframe: row.timeframe }.pair()?,
                forecast_job_id: row.forecast_job_id,
                artifact_version: row.artifact_version,
                bar_ts: row.bar_ts,
                predicted: row.predicted.parse().map_err(anyhow::Error::msg)?,
                realized: row.realized.parse().map_err(anyhow::Error::msg)?,
                next_return: row.next_return,
            })
        })
        .collect()
}

/// Every (pair, model) that already raised a drift alert.
pub(crate) async fn drift_alerted(database: &Database) -> anyhow::Result<Vec<(Pair, Option<String>)>> {
    const ALERTED: &str = "select distinct symbol, timeframe, artifact_version from drift_alerts";
    let rows: Vec<(String, String, Option<String>)> =
        on_either!(database, |pool| sqlx::query_as(ALERTED).fetch_all(pool).await)
            .context("cannot read drift_alerts")?;
    rows.into_iter()
        .map(|(symbol, timeframe, version)| Ok((PairRow { symbol, timeframe }.pair()?, version)))
        .collect()
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

/// What a model's training run recorded, from its row.
pub(crate) async fn model_record(database: &Database, artifact_version: &str) -> anyhow::Result<ModelRecord> {
    const RECORD: &str = "select ensemble_accuracy,
                                 evaluation -> 'baselines' -> 'majority_class' as majority_class,
                                 evaluation -> 'scores' as scores,
                                 evaluation -> 'backtest' -> 'bars_per_year' as bars_per_year,
                                 evaluation -> 'backtest' -> 'cost_bps' as cost_bps
                          from training_runs
                          where artifact_version = $1 and status = 'succeeded' order by finished_at limit 1";
    let row: Option<RecordRow> = on_either!(database, |pool| {
        sqlx::query_as(RECORD).bind(artifact_version).fetch_optional(pool).await
    })
    .with_context(|| format!("cannot read the training run of model {artifact_version}"))?;
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

#[derive(sqlx::FromRow)]
struct ForecastSignalRow {
    symbol: String,
    timeframe: String,
    bar_ts: DateTime<Utc>,
    horizon: i32,
    direction: String,
    prob_bearish: f64,
    prob_neutral: f64,
    prob_bullish: f64,
}

/// Trained models' forecasts made at or after `since` (bar time), oldest first.
pub(crate) async fn forecast_signals(
    database: &Database,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<Signal>> {
    const SIGNALS: &str =
        "select symbol, timeframe, bar_ts, horizon, direction, prob_bearish, prob_neutral, prob_bullish
                           from ml_forecasts
                           where is_trained_ensemble and direction is not null and bar_ts >= $1
                             and prob_bearish is not null and prob_neutral is not null and prob_bullish is not null
                           order by bar_ts";
    let rows: Vec<ForecastSignalRow> = match database {
        Database::Postgres(pool) => sqlx::query_as(SIGNALS).bind(since).fetch_all(pool).await,
        Database::Sqlite(pool) => sqlx::query_as(SIGNALS).bind(sqlite_time(since)).fetch_all(pool).await,
    }
    .context("cannot read ml_forecasts")?;
    rows.into_iter()
        .map(|row| {
            Ok(Signal {
                pair: PairRow { symbol: row.symbol, timeframe: row.timeframe }.pair()?,
                bar_ts: row.bar_ts,
                horizon: usize::try_from(row.horizon)?,
                direction: row.direction.parse().map_err(anyhow::Error::msg)?,
                probabilities: [row.prob_bearish, row.prob_neutral, row.prob_bullish],
            })
        })
        .collect()
}
