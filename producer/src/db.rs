//! The producer's database work: bars in (`ingest`), bars out (snapshots), and the questions
//! a trigger asks (which pairs exist, is a pair up to date, how far is a run).

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use fleet::config::DatabaseArgs;
use shared::ingest::BarSeries;
use shared::job::Pair;
use shared::{Bar, Symbol, Timeframe};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::evaluate::{DueForecast, Scored};
use crate::wait::RunKind;

/// Bars per insert statement: large enough to be fast, small enough for one round trip.
const INSERT_CHUNK: usize = 5_000;

pub(crate) async fn connect(args: &DatabaseArgs) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&args.database_url)
        .await
        .context("cannot connect to the database named by DATABASE_URL")
}

/// How an upsert of bars went.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub(crate) struct Loaded {
    /// New bars, and existing ones whose values changed.
    pub written: u64,
    /// Bars already stored with the same values.
    pub unchanged: u64,
}

/// Upserts a series into `ohlc_bars` (and its symbol into `symbols`), in one transaction.
pub(crate) async fn upsert_bars(pool: &PgPool, series: &BarSeries, source: &str) -> anyhow::Result<Loaded> {
    let mut transaction = pool.begin().await?;
    sqlx::query("insert into symbols (ticker) values ($1) on conflict do nothing")
        .bind(series.symbol.as_str())
        .execute(&mut *transaction)
        .await
        .with_context(|| format!("cannot record symbol {}", series.symbol))?;
    let mut loaded = Loaded::default();
    for chunk in series.bars.chunks(INSERT_CHUNK) {
        let column = |field: fn(&Bar) -> f64| chunk.iter().map(field).collect::<Vec<f64>>();
        let ts: Vec<DateTime<Utc>> = chunk.iter().map(|b| b.ts).collect();
        let written = sqlx::query(
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
        .execute(&mut *transaction)
        .await
        .with_context(|| format!("cannot load the bars of {} {}", series.symbol, series.timeframe))?
        .rows_affected();
        loaded.written += written;
        loaded.unchanged += chunk.len() as u64 - written;
    }
    transaction.commit().await?;
    Ok(loaded)
}

/// The pairs with bars, restricted to the given symbols and timeframes when there are any.
pub(crate) async fn pairs(
    pool: &PgPool,
    symbols: &[Symbol],
    timeframes: &[Timeframe],
) -> anyhow::Result<Vec<Pair>> {
    let symbols: Vec<&str> = symbols.iter().map(Symbol::as_str).collect();
    let timeframes: Vec<&str> = timeframes.iter().map(|t| t.as_str()).collect();
    let rows = sqlx::query(
        "select distinct symbol, timeframe from ohlc_bars
         where (cardinality($1::text[]) = 0 or symbol = any($1))
           and (cardinality($2::text[]) = 0 or timeframe = any($2))
         order by symbol, timeframe",
    )
    .bind(symbols)
    .bind(timeframes)
    .fetch_all(pool)
    .await
    .context("cannot list the pairs in ohlc_bars")?;
    rows.iter().map(pair_of).collect()
}

/// A pair's bars, oldest first; only the most recent `last` when given.
pub(crate) async fn bars(pool: &PgPool, pair: &Pair, last: Option<usize>) -> anyhow::Result<Vec<Bar>> {
    let limit = last.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let rows = sqlx::query(
        "select ts, open, high, low, close, volume from ohlc_bars
         where symbol = $1 and timeframe = $2 order by ts desc limit $3",
    )
    .bind(pair.symbol.as_str())
    .bind(pair.timeframe.as_str())
    .bind(limit)
    .fetch_all(pool)
    .await
    .with_context(|| format!("cannot read the bars of {pair}"))?;
    let mut bars: Vec<Bar> = rows
        .iter()
        .map(|row| Bar {
            ts: row.get("ts"),
            open: row.get("open"),
            high: row.get("high"),
            low: row.get("low"),
            close: row.get("close"),
            volume: row.get("volume"),
        })
        .collect();
    bars.reverse();
    Ok(bars)
}

/// The model version of a succeeded run on the same data and configuration, if any.
pub(crate) async fn up_to_date(
    pool: &PgPool,
    pair: &Pair,
    data_sha256: &str,
    config_sha256: &str,
) -> anyhow::Result<Option<String>> {
    let version = sqlx::query_scalar::<_, Option<String>>(
        "select artifact_version from training_runs
         where symbol = $1 and timeframe = $2 and data_sha256 = $3 and config_sha256 = $4
           and status = 'succeeded'
         order by finished_at desc limit 1",
    )
    .bind(pair.symbol.as_str())
    .bind(pair.timeframe.as_str())
    .bind(data_sha256)
    .bind(config_sha256)
    .fetch_optional(pool)
    .await
    .with_context(|| format!("cannot look up earlier runs of {pair}"))?;
    Ok(version.flatten())
}

/// The result rows of a run so far; `job_uuid` is the job id.
pub(crate) async fn run_rows(
    pool: &PgPool,
    kind: RunKind,
    run_id: Uuid,
) -> anyhow::Result<Vec<sqlx::postgres::PgRow>> {
    let statement = match kind {
        RunKind::Train => "select *, job_id::uuid as job_uuid from training_runs where run_id = $1",
        RunKind::Forecast => "select *, job_id::uuid as job_uuid from ml_forecasts where run_id = $1",
    };
    sqlx::query(statement)
        .bind(run_id)
        .fetch_all(pool)
        .await
        .with_context(|| format!("cannot read the results of run {run_id}"))
}

/// Parses a `symbol`, `timeframe` pair of columns.
fn pair_of(row: &sqlx::postgres::PgRow) -> anyhow::Result<Pair> {
    let symbol: String = row.get("symbol");
    let timeframe: String = row.get("timeframe");
    Ok(Pair { symbol: symbol.parse()?, timeframe: timeframe.parse()? })
}

/// Forecasts of trained models, not scored yet, whose horizon bar has arrived, with the
/// close at the forecast and `horizon` bars later.
pub(crate) async fn due_forecasts(pool: &PgPool) -> anyhow::Result<Vec<DueForecast>> {
    let rows = sqlx::query(
        "select f.job_id, f.symbol, f.timeframe, f.artifact_version, f.bar_ts, f.horizon, f.direction,
                f.label_threshold, at_bar.close as close_at, later.ts as realized_at, later.close as close_after
         from ml_forecasts f
         join ohlc_bars at_bar
           on at_bar.symbol = f.symbol and at_bar.timeframe = f.timeframe and at_bar.ts = f.bar_ts
         cross join lateral (
             select b.ts, b.close from ohlc_bars b
             where b.symbol = f.symbol and b.timeframe = f.timeframe and b.ts > f.bar_ts
             order by b.ts offset greatest(f.horizon - 1, 0) limit 1
         ) later
         where f.is_trained_ensemble and f.direction is not null and f.horizon > 0
           and not exists (select 1 from forecast_outcomes o where o.forecast_job_id = f.job_id)
         order by f.bar_ts",
    )
    .fetch_all(pool)
    .await
    .context("cannot read the forecasts due for scoring")?;
    rows.iter()
        .map(|row| {
            let direction: String = row.get("direction");
            let horizon: i32 = row.get("horizon");
            Ok(DueForecast {
                job_id: row.get("job_id"),
                pair: pair_of(row)?,
                artifact_version: row.get("artifact_version"),
                bar_ts: row.get("bar_ts"),
                horizon: usize::try_from(horizon)?,
                predicted: direction.parse().map_err(anyhow::Error::msg)?,
                threshold: row.get("label_threshold"),
                close_at: row.get("close_at"),
                close_after: row.get("close_after"),
                realized_at: row.get("realized_at"),
            })
        })
        .collect()
}

/// Scored forecasts made at or after `since` (bar time).
pub(crate) async fn scored_forecasts(pool: &PgPool, since: DateTime<Utc>) -> anyhow::Result<Vec<Scored>> {
    let rows = sqlx::query(
        "select forecast_job_id, symbol, timeframe, artifact_version, bar_ts, correct
         from forecast_outcomes where bar_ts >= $1",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .context("cannot read forecast_outcomes")?;
    rows.iter()
        .map(|row| {
            Ok(Scored {
                forecast_job_id: row.get("forecast_job_id"),
                pair: pair_of(row)?,
                artifact_version: row.get("artifact_version"),
                bar_ts: row.get("bar_ts"),
                correct: row.get("correct"),
            })
        })
        .collect()
}

/// Every (pair, model) that already raised a drift alert.
pub(crate) async fn drift_alerted(pool: &PgPool) -> anyhow::Result<Vec<(Pair, Option<String>)>> {
    let rows = sqlx::query("select distinct symbol, timeframe, artifact_version from drift_alerts")
        .fetch_all(pool)
        .await
        .context("cannot read drift_alerts")?;
    rows.iter().map(|row| Ok((pair_of(row)?, row.get("artifact_version")))).collect()
}

/// The validation accuracy a model was trained with, from its training run.
pub(crate) async fn validation_accuracy(
    pool: &PgPool,
    artifact_version: &str,
) -> anyhow::Result<Option<f64>> {
    let accuracy = sqlx::query_scalar::<_, Option<f64>>(
        "select ensemble_accuracy from training_runs
         where artifact_version = $1 and status = 'succeeded' order by finished_at limit 1",
    )
    .bind(artifact_version)
    .fetch_optional(pool)
    .await
    .with_context(|| format!("cannot read the training run of model {artifact_version}"))?;
    Ok(accuracy.flatten())
}
