//! Bars in (`boltfleet ingest`) and out (the snapshots a trigger takes), and the pairs that
//! have them.

use chrono::{DateTime, Utc};
use ml_core::ingest::BarSeries;
use ml_core::job::Pair;
use ml_core::{Bar, Symbol, Timeframe};
use sqlx::{PgConnection, SqliteConnection};

use super::{Database, DatabaseError, PairRow, on_either, query_error, sqlite_time};

/// Bars per insert statement on SQLite: large enough to be fast, small enough for one
/// statement.
const SQLITE_INSERT_CHUNK: usize = 5_000;

/// How an upsert of bars went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Loaded {
    /// New bars, and existing ones whose values changed.
    pub written: u64,
    /// Bars already stored with the same values.
    pub unchanged: u64,
}

/// Records the series' symbol, then writes its bars with `$load` (the dialect's
/// `load_postgres` or `load_sqlite`, answering how many it wrote), all in one transaction on
/// `$pool`; evaluates to the [`Loaded`] counts.
macro_rules! upsert_in_one_transaction {
    ($pool:expr, $series:expr, $source:expr, $load:ident) => {{
        let what = || format!("load the bars of {} {}", $series.symbol, $series.timeframe);
        let mut transaction = $pool.begin().await.map_err(query_error(what()))?;
        sqlx::query("insert into symbols (ticker) values ($1) on conflict do nothing")
            .bind($series.symbol.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(query_error(format!("record symbol {}", $series.symbol)))?;
        let written = $load(&mut transaction, $series, $source).await.map_err(query_error(what()))?;
        transaction.commit().await.map_err(query_error(what()))?;
        Loaded { written, unchanged: $series.bars.len() as u64 - written }
    }};
}

/// Inserts the bars of the table (or subquery) `$incoming`, whose columns are ts, open, high,
/// low, close and volume; `$1` is the symbol, `$2` the timeframe, `$3` the source.
macro_rules! insert_from {
    ($incoming:literal) => {
        concat!(
            "insert into ohlc_bars (symbol, timeframe, ts, open, high, low, close, volume, source)
             select $1, $2, ts, open, high, low, close, volume, $3 from ",
            $incoming
        )
    };
}

/// What [`insert_from`] needs to upsert: a bar already stored with the same values is not
/// rewritten (`$distinct` is the dialect's null-safe "differs"), so that it counts as unchanged.
macro_rules! on_conflict_update {
    ($distinct:literal) => {
        concat!(
            " where true
             on conflict (symbol, timeframe, ts) do update
                 set open = excluded.open, high = excluded.high, low = excluded.low,
                     close = excluded.close, volume = excluded.volume, source = excluded.source
                 where (ohlc_bars.open, ohlc_bars.high, ohlc_bars.low, ohlc_bars.close, ohlc_bars.volume) ",
            $distinct,
            " (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume)"
        )
    };
}

impl Database {
    /// Upserts a series into `ohlc_bars` (and its symbol into `symbols`), in one transaction.
    /// A bar already stored with the same values is not rewritten: it counts as unchanged.
    pub async fn upsert_bars(&self, series: &BarSeries, source: &str) -> Result<Loaded, DatabaseError> {
        Ok(match self {
            Database::Postgres(pool) => upsert_in_one_transaction!(pool, series, source, load_postgres),
            Database::Sqlite(pool) => upsert_in_one_transaction!(pool, series, source, load_sqlite),
        })
    }

    /// The pairs with bars, restricted to the given symbols and timeframes when there are any.
    pub async fn pairs(
        &self,
        symbols: &[Symbol],
        timeframes: &[Timeframe],
    ) -> Result<Vec<Pair>, DatabaseError> {
        // Postgres reads every bar for a `distinct` (half a second at 2.3 million bars); it
        // hops from one pair to the next along the primary key instead, an index probe a pair.
        // SQLite (no lateral joins; in the process, at an embedded fleet's size) keeps the
        // plain `distinct`.
        const POSTGRES_PAIRS: &str = "with recursive pairs (symbol, timeframe) as (
                 (select symbol, timeframe from ohlc_bars order by symbol, timeframe limit 1)
                 union all
                 select next.symbol, next.timeframe from pairs cross join lateral (
                     select symbol, timeframe from ohlc_bars
                     where (symbol, timeframe) > (pairs.symbol, pairs.timeframe)
                     order by symbol, timeframe limit 1
                 ) as next
             )
             select symbol, timeframe from pairs order by symbol, timeframe";
        const SQLITE_PAIRS: &str =
            "select distinct symbol, timeframe from ohlc_bars order by symbol, timeframe";
        let rows: Vec<PairRow> = match self {
            Database::Postgres(pool) => sqlx::query_as(POSTGRES_PAIRS).fetch_all(pool).await,
            Database::Sqlite(pool) => sqlx::query_as(SQLITE_PAIRS).fetch_all(pool).await,
        }
        .map_err(query_error("list the pairs in ohlc_bars"))?;
        let pairs = rows.into_iter().map(PairRow::pair).collect::<Result<Vec<Pair>, _>>()?;
        Ok(pairs
            .into_iter()
            .filter(|pair| symbols.is_empty() || symbols.contains(&pair.symbol))
            .filter(|pair| timeframes.is_empty() || timeframes.contains(&pair.timeframe))
            .collect())
    }

    /// Refreshes the planner's statistics of `ohlc_bars`, as after any bulk load: until
    /// autovacuum gets to a freshly loaded table, Postgres guesses a few dozen bars per pair,
    /// and reads a forecast run's last bars by scanning and sorting each pair's every bar
    /// instead of walking its index backwards (five times slower at 2,000 bars a pair).
    pub async fn analyze_bars(&self) -> Result<(), DatabaseError> {
        on_either!(self, |pool| sqlx::query("analyze ohlc_bars").execute(pool).await.map(drop))
            .map_err(query_error("analyze ohlc_bars"))
    }

    /// A pair's bars, oldest first; only the most recent `last` when given.
    pub async fn bars(&self, pair: &Pair, last: Option<usize>) -> Result<Vec<Bar>, DatabaseError> {
        const BARS: &str = "select ts, open, high, low, close, volume from ohlc_bars
                            where symbol = $1 and timeframe = $2 order by ts desc limit $3";
        let limit = last.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let rows: Vec<BarRow> = on_either!(self, |pool| {
            sqlx::query_as(BARS)
                .bind(pair.symbol.as_str())
                .bind(pair.timeframe.as_str())
                .bind(limit)
                .fetch_all(pool)
                .await
        })
        .map_err(query_error(format!("read the bars of {pair}")))?;
        Ok(rows.into_iter().rev().map(bar).collect())
    }

    /// The most recent `last` bars of each of `pairs`, oldest first, in the order of `pairs`;
    /// a pair without bars has none. On Postgres one statement reads them all, each pair's
    /// bars as one row of arrays: a forecast run reads a hundred pairs at a time, a round trip
    /// per pair was most of its trigger's time, and then decoding a row per bar was a quarter
    /// of its CPU (docs/benchmarks.md, issue 27). SQLite runs in the process: a statement per
    /// pair costs no round trip there.
    pub async fn last_bars_of_pairs(
        &self,
        pairs: &[Pair],
        last: usize,
    ) -> Result<Vec<Vec<Bar>>, DatabaseError> {
        // Aggregated in the order the subquery reads them, newest first: an `order by` inside
        // each aggregate costs Postgres more than the client saves. That order is what
        // Postgres does, not what SQL promises, so `bars_of_arrays` sorts the bars.
        const LAST_BARS: &str = "select b.ts, b.open, b.high, b.low, b.close, b.volume
             from unnest($1::text[], $2::text[]) with ordinality as p (symbol, timeframe, at)
             cross join lateral (
                 select array_agg(ts) as ts, array_agg(open) as open, array_agg(high) as high,
                        array_agg(low) as low, array_agg(close) as close, array_agg(volume) as volume
                 from (select ts, open, high, low, close, volume from ohlc_bars
                       where symbol = p.symbol and timeframe = p.timeframe
                       order by ts desc limit $3) as last_bars
             ) as b
             order by p.at";
        let Database::Postgres(pool) = self else {
            let mut all = Vec::with_capacity(pairs.len());
            for pair in pairs {
                all.push(self.bars(pair, Some(last)).await?);
            }
            return Ok(all);
        };
        let symbols: Vec<&str> = pairs.iter().map(|pair| pair.symbol.as_str()).collect();
        let timeframes: Vec<&str> = pairs.iter().map(|pair| pair.timeframe.as_str()).collect();
        let rows: Vec<PairBarsRow> = sqlx::query_as(LAST_BARS)
            .bind(&symbols)
            .bind(&timeframes)
            .bind(i64::try_from(last).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err(query_error(format!("read the last {last} bars of {} pairs", pairs.len())))?;
        if rows.len() != pairs.len() {
            return Err(DatabaseError::Row {
                detail: format!("bars of {} pairs, of {} asked for", rows.len(), pairs.len()),
            });
        }
        pairs.iter().zip(rows).map(|(pair, row)| bars_of_arrays(pair, row)).collect()
    }
}

/// A bar as `ohlc_bars` holds it: ts, open, high, low, close, volume.
type BarRow = (DateTime<Utc>, f64, f64, f64, f64, f64);
/// A pair's bars as arrays of the columns of [`BarRow`] (null for a pair without bars).
type PairBarsRow = (
    Option<Vec<DateTime<Utc>>>,
    Option<Vec<f64>>,
    Option<Vec<f64>>,
    Option<Vec<f64>>,
    Option<Vec<f64>>,
    Option<Vec<f64>>,
);

fn bar((ts, open, high, low, close, volume): BarRow) -> Bar {
    Bar { ts, open, high, low, close, volume }
}

/// The bars of a [`PairBarsRow`] (its arrays of one length), oldest first.
fn bars_of_arrays(
    pair: &Pair,
    (ts, open, high, low, close, volume): PairBarsRow,
) -> Result<Vec<Bar>, DatabaseError> {
    let columns = [open, high, low, close, volume].map(Option::unwrap_or_default);
    let ts = ts.unwrap_or_default();
    if columns.iter().any(|column| column.len() != ts.len()) {
        return Err(DatabaseError::Row {
            detail: format!("the bar arrays of {pair} are of different lengths"),
        });
    }
    let [open, high, low, close, volume] = columns;
    let mut bars: Vec<Bar> = ts
        .into_iter()
        .zip(open)
        .zip(high)
        .zip(low)
        .zip(close)
        .zip(volume)
        .map(|(((((ts, open), high), low), close), volume)| bar((ts, open, high, low, close, volume)))
        .collect();
    // Newest first as Postgres aggregates them: the sort finds one descending run and
    // reverses it, and puts any other order right too.
    bars.sort_unstable_by_key(|bar| bar.ts);
    Ok(bars)
}

/// Writes a series' bars on Postgres; how many were written. Bars new to `ohlc_bars` (no
/// stored bar of the pair in their time span: a first load) go straight in by `COPY` in
/// binary; a series that overlaps stored bars goes by `COPY` into a temporary table and is
/// upserted from it. The straight path spares the conflict checks and the temporary table's
/// catalog work, which cost most of a load (docs/benchmarks.md, issue 27).
async fn load_postgres(
    connection: &mut PgConnection,
    series: &BarSeries,
    source: &str,
) -> Result<u64, sqlx::Error> {
    let (Some(first), Some(last)) =
        (series.bars.iter().map(|b| b.ts).min(), series.bars.iter().map(|b| b.ts).max())
    else {
        return Ok(0);
    };
    // Loads of one pair take turns, so that no other load can add bars between the look for
    // stored ones and the `COPY` that counts on there being none.
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1 || ' ' || $2, 0))")
        .bind(series.symbol.as_str())
        .bind(series.timeframe.as_str())
        .execute(&mut *connection)
        .await?;
    let overlaps: bool = sqlx::query_scalar(
        "select exists (select 1 from ohlc_bars where symbol = $1 and timeframe = $2 and ts between $3 and $4)",
    )
    .bind(series.symbol.as_str())
    .bind(series.timeframe.as_str())
    .bind(first)
    .bind(last)
    .fetch_one(&mut *connection)
    .await?;
    if !overlaps {
        let rows =
            CopyRows::Whole { symbol: series.symbol.as_str(), timeframe: series.timeframe.as_str(), source };
        let statement = "copy ohlc_bars (symbol, timeframe, ts, open, high, low, close, volume, source)
                         from stdin (format binary)";
        return copy_bars(connection, statement, &series.bars, rows).await;
    }
    sqlx::query(
        "create temporary table incoming_bars (
             ts timestamptz, open float8, high float8, low float8, close float8, volume float8
         ) on commit drop",
    )
    .execute(&mut *connection)
    .await?;
    copy_bars(connection, "copy incoming_bars from stdin (format binary)", &series.bars, CopyRows::Values)
        .await?;
    let done = sqlx::query(concat!(insert_from!("incoming_bars"), on_conflict_update!("is distinct from")))
        .bind(series.symbol.as_str())
        .bind(series.timeframe.as_str())
        .bind(source)
        .execute(&mut *connection)
        .await?;
    Ok(done.rows_affected())
}

/// Writes a series' bars on SQLite, a chunk per statement; how many were written.
async fn load_sqlite(
    connection: &mut SqliteConnection,
    series: &BarSeries,
    source: &str,
) -> Result<u64, sqlx::Error> {
    let mut written = 0;
    for chunk in series.bars.chunks(SQLITE_INSERT_CHUNK) {
        // SQLite has no arrays: the chunk travels as one JSON array of rows.
        let rows: Vec<(String, f64, f64, f64, f64, f64)> =
            chunk.iter().map(|b| (sqlite_time(b.ts), b.open, b.high, b.low, b.close, b.volume)).collect();
        let statement = concat!(
            insert_from!(
                "(select value ->> '$[0]' as ts, value ->> '$[1]' as open, value ->> '$[2]' as high,
                         value ->> '$[3]' as low, value ->> '$[4]' as close, value ->> '$[5]' as volume
                  from json_each($4))"
            ),
            on_conflict_update!("is not")
        );
        written += sqlx::query(statement)
            .bind(series.symbol.as_str())
            .bind(series.timeframe.as_str())
            .bind(source)
            .bind(sqlx::types::Json(rows))
            .execute(&mut *connection)
            .await?
            .rows_affected();
    }
    Ok(written)
}

/// Bars per message of a `COPY`: a series is never encoded whole (a long one would be
/// hundreds of MB, built on the async runtime).
const COPY_CHUNK: usize = 10_000;

/// Sends `bars` through `statement`, a `COPY ... from stdin (format binary)`, as rows of
/// `rows`' columns; how many rows it wrote. The layout: a header, then per bar its fields
/// (each a length, then the value: text as it is, the time in microseconds since 2000-01-01,
/// the doubles big-endian), then a trailer. Binary spares the server the parsing of text
/// numbers and times.
async fn copy_bars(
    connection: &mut PgConnection,
    statement: &str,
    bars: &[Bar],
    rows: CopyRows<'_>,
) -> Result<u64, sqlx::Error> {
    /// The signature, no flags, no header extension.
    const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
    /// A field count of -1.
    const TRAILER: &[u8] = &[0xff, 0xff];
    let mut copy = connection.copy_in_raw(statement).await?;
    copy.send(HEADER).await?;
    for chunk in bars.chunks(COPY_CHUNK) {
        copy.send(copy_rows(chunk, rows)).await?;
    }
    copy.send(TRAILER).await?;
    copy.finish().await
}

/// Which columns a row of [`copy_bars`] has.
#[derive(Clone, Copy)]
enum CopyRows<'a> {
    /// `incoming_bars`': ts, open, high, low, close, volume.
    Values,
    /// `ohlc_bars`': symbol, timeframe, the values, source.
    Whole { symbol: &'a str, timeframe: &'a str, source: &'a str },
}

/// `bars` as rows of a binary `COPY` (see [`copy_bars`]).
fn copy_rows(bars: &[Bar], rows: CopyRows) -> Vec<u8> {
    /// Microseconds from the Unix epoch to Postgres's, 2000-01-01.
    const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let (fields, text) = match rows {
        CopyRows::Values => (6i16, None),
        CopyRows::Whole { symbol, timeframe, source } => (9, Some((symbol, timeframe, source))),
    };
    let mut out = Vec::with_capacity(bars.len() * (2 + 6 * 12 + 64));
    for bar in bars {
        out.extend_from_slice(&fields.to_be_bytes());
        if let Some((symbol, timeframe, _)) = text {
            field(&mut out, symbol.as_bytes());
            field(&mut out, timeframe.as_bytes());
        }
        field(&mut out, &(bar.ts.timestamp_micros() - POSTGRES_EPOCH_MICROS).to_be_bytes());
        for value in [bar.open, bar.high, bar.low, bar.close, bar.volume] {
            field(&mut out, &value.to_be_bytes());
        }
        if let Some((_, _, source)) = text {
            field(&mut out, source.as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn arrays(ts: &[i64]) -> PairBarsRow {
        let ts = ts.iter().map(|&seconds| Utc.timestamp_opt(seconds, 0).unwrap()).collect();
        let values = |offset: f64| Some((0..3).map(|i| f64::from(i) + offset).collect());
        (Some(ts), values(1.0), values(2.0), values(0.5), values(1.5), values(100.0))
    }

    #[test]
    fn a_pairs_arrays_come_back_oldest_first_in_any_order_postgres_aggregated_them() {
        let pair = Pair { symbol: "AAPL".parse().unwrap(), timeframe: Timeframe::D1 };
        let newest_first = bars_of_arrays(&pair, arrays(&[300, 200, 100])).unwrap();
        let shuffled = bars_of_arrays(&pair, arrays(&[200, 300, 100])).unwrap();
        let ts = |bars: &[Bar]| bars.iter().map(|bar| bar.ts.timestamp()).collect::<Vec<_>>();
        assert_eq!(ts(&newest_first), [100, 200, 300]);
        assert_eq!(ts(&shuffled), [100, 200, 300]);
        // Each bar keeps its own values, whatever order its row came in.
        assert_eq!((shuffled[0].open, shuffled[0].volume), (3.0, 102.0));
        assert_eq!((shuffled[2].close, shuffled[2].high), (2.5, 3.0));
        assert_eq!(bars_of_arrays(&pair, (None, None, None, None, None, None)).unwrap(), Vec::new());
    }

    #[test]
    fn arrays_of_different_lengths_are_refused_naming_the_pair() {
        let pair = Pair { symbol: "AAPL".parse().unwrap(), timeframe: Timeframe::D1 };
        let (ts, open, high, low, close, _) = arrays(&[100, 200, 300]);
        let refused = bars_of_arrays(&pair, (ts, open, high, low, close, Some(vec![1.0]))).unwrap_err();
        assert!(refused.to_string().contains("AAPL"), "{refused}");
    }
}
