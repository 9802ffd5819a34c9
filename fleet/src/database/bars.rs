//! Bars in (`boltfleet ingest`) and out (the snapshots a trigger takes), and the pairs that
//! have them.

use chrono::{DateTime, Utc};
use ml_core::ingest::BarSeries;
use ml_core::job::Pair;
use ml_core::{Bar, Symbol, Timeframe};

use super::{Database, DatabaseError, PairRow, on_either, query_error, sqlite_time};

/// Bars per insert statement: large enough to be fast, small enough for one round trip.
const INSERT_CHUNK: usize = 5_000;

/// How an upsert of bars went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Loaded {
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
        let what = || format!("load the bars of {} {}", $series.symbol, $series.timeframe);
        let mut transaction = $pool.begin().await.map_err(query_error(what()))?;
        sqlx::query("insert into symbols (ticker) values ($1) on conflict do nothing")
            .bind($series.symbol.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(query_error(format!("record symbol {}", $series.symbol)))?;
        let mut loaded = Loaded::default();
        for $chunk in $series.bars.chunks(INSERT_CHUNK) {
            let written =
                $statement.execute(&mut *transaction).await.map_err(query_error(what()))?.rows_affected();
            loaded.written += written;
            loaded.unchanged += $chunk.len() as u64 - written;
        }
        transaction.commit().await.map_err(query_error(what()))?;
        loaded
    }};
}

impl Database {
    /// Upserts a series into `ohlc_bars` (and its symbol into `symbols`), in one transaction.
    /// A bar already stored with the same values is not rewritten: it counts as unchanged.
    pub async fn upsert_bars(&self, series: &BarSeries, source: &str) -> Result<Loaded, DatabaseError> {
        Ok(match self {
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
                let rows: Vec<(String, f64, f64, f64, f64, f64)> = chunk
                    .iter()
                    .map(|b| (sqlite_time(b.ts), b.open, b.high, b.low, b.close, b.volume))
                    .collect();
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

    /// The pairs with bars, restricted to the given symbols and timeframes when there are any.
    pub async fn pairs(
        &self,
        symbols: &[Symbol],
        timeframes: &[Timeframe],
    ) -> Result<Vec<Pair>, DatabaseError> {
        const PAIRS: &str = "select distinct symbol, timeframe from ohlc_bars order by symbol, timeframe";
        let rows: Vec<PairRow> = on_either!(self, |pool| sqlx::query_as(PAIRS).fetch_all(pool).await)
            .map_err(query_error("list the pairs in ohlc_bars"))?;
        let pairs = rows.into_iter().map(PairRow::pair).collect::<Result<Vec<Pair>, _>>()?;
        Ok(pairs
            .into_iter()
            .filter(|pair| symbols.is_empty() || symbols.contains(&pair.symbol))
            .filter(|pair| timeframes.is_empty() || timeframes.contains(&pair.timeframe))
            .collect())
    }

    /// A pair's bars, oldest first; only the most recent `last` when given.
    pub async fn bars(&self, pair: &Pair, last: Option<usize>) -> Result<Vec<Bar>, DatabaseError> {
        const BARS: &str = "select ts, open, high, low, close, volume from ohlc_bars
                            where symbol = $1 and timeframe = $2 order by ts desc limit $3";
        let limit = last.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let rows: Vec<(DateTime<Utc>, f64, f64, f64, f64, f64)> = on_either!(self, |pool| {
            sqlx::query_as(BARS)
                .bind(pair.symbol.as_str())
                .bind(pair.timeframe.as_str())
                .bind(limit)
                .fetch_all(pool)
                .await
        })
        .map_err(query_error(format!("read the bars of {pair}")))?;
        let mut bars: Vec<Bar> = rows
            .into_iter()
            .map(|(ts, open, high, low, close, volume)| Bar { ts, open, high, low, close, volume })
            .collect();
        bars.reverse();
        Ok(bars)
    }
}
