//! Bar snapshots: the Parquet bytes a train or forecast job reads. Two layouts:
//! - one pair's bars (a training job's), written by [`crate::ingest::bars_to_parquet`];
//! - many pairs' bars in one file (a forecast run's, written by [`encode_pairs`]), with
//!   `symbol` and `timeframe` columns: a run's thousand forecasts read ten files, not a
//!   thousand, and a worker decodes each file once for all the jobs that read it.
//!
//! Decoding is strict: a snapshot is ours, so anything unexpected in it means corruption,
//! reported with the row it was found at.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use chrono::DateTime;
use polars::prelude::{Column, DataFrame, DataType, TimeUnit};

use crate::job::Pair;
use crate::{Bar, Symbol};

/// The columns that make a snapshot one of many pairs.
const SYMBOL_COLUMN: &str = "symbol";
const TIMEFRAME_COLUMN: &str = "timeframe";

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot is not readable parquet")]
    Parquet(#[source] polars::error::PolarsError),
    #[error("snapshot has no usable {column} column: {detail}")]
    Column { column: &'static str, detail: String },
    #[error("snapshot row {row}: {problem}")]
    Row { row: usize, problem: String },
    #[error("snapshot holds no bars")]
    Empty,
}

/// A decoded snapshot file.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotBars {
    /// One pair's bars (the file names no pair: the job that reads it does).
    Pair(Vec<Bar>),
    /// Many pairs' bars, each pair's its own checked series.
    Pairs(HashMap<Pair, Arc<[Bar]>>),
}

impl SnapshotBars {
    /// The bars a job on `pair` reads: a one-pair file's, or the pair's in a file of many.
    pub fn of(&self, pair: &Pair) -> Option<&[Bar]> {
        match self {
            Self::Pair(bars) => Some(bars),
            Self::Pairs(pairs) => pairs.get(pair).map(|bars| &bars[..]),
        }
    }

    /// How many bars the file holds.
    pub fn len(&self) -> usize {
        match self {
            Self::Pair(bars) => bars.len(),
            Self::Pairs(pairs) => pairs.values().map(|bars| bars.len()).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Many pairs' bars as one Parquet file: `symbol`, `timeframe`, then the columns of
/// [`crate::features::bars_frame`], each pair's rows together and ascending.
pub fn encode_pairs(pairs: &[(Pair, Vec<Bar>)]) -> polars::error::PolarsResult<Vec<u8>> {
    use polars_io::prelude::ParquetWriter;
    let rows = pairs.iter().map(|(_, bars)| bars.len()).sum();
    let (mut symbols, mut timeframes, mut all) =
        (Vec::with_capacity(rows), Vec::with_capacity(rows), Vec::with_capacity(rows));
    for (pair, bars) in pairs {
        symbols.extend(std::iter::repeat_n(pair.symbol.as_str(), bars.len()));
        timeframes.extend(std::iter::repeat_n(pair.timeframe.as_str(), bars.len()));
        all.extend_from_slice(bars);
    }
    let mut frame = crate::features::bars_frame(&all)?;
    frame.insert_column(0, Column::new(SYMBOL_COLUMN.into(), symbols))?;
    frame.insert_column(1, Column::new(TIMEFRAME_COLUMN.into(), timeframes))?;
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut frame)?;
    Ok(bytes)
}

/// The bars of a one-pair snapshot (see [`decode_file`]).
pub fn decode(bytes: &[u8]) -> Result<Vec<Bar>, SnapshotError> {
    match decode_file(bytes)? {
        SnapshotBars::Pair(bars) => Ok(bars),
        SnapshotBars::Pairs(_) => Err(SnapshotError::Column {
            column: SYMBOL_COLUMN,
            detail: "a snapshot of many pairs where one pair's bars were expected".to_owned(),
        }),
    }
}

/// A snapshot of either layout, checked: per pair, ascending unique timestamps, finite
/// positive prices with `low <= open, close <= high`, non-negative volume.
pub fn decode_file(bytes: &[u8]) -> Result<SnapshotBars, SnapshotError> {
    let frame = crate::ingest::read_parquet_frame(bytes).map_err(SnapshotError::Parquet)?;
    let column_error = |column: &'static str| {
        move |e: polars::error::PolarsError| SnapshotError::Column { column, detail: e.to_string() }
    };
    let ts = frame
        .column("ts")
        .and_then(|c| c.cast(&DataType::Datetime(TimeUnit::Milliseconds, None)))
        .and_then(|c| c.cast(&DataType::Int64))
        .map_err(column_error("ts"))?;
    let ts = ts.i64().map_err(column_error("ts"))?.to_vec();
    let floats = |name: &'static str| -> Result<Vec<Option<f64>>, SnapshotError> {
        let column =
            frame.column(name).and_then(|c| c.cast(&DataType::Float64)).map_err(column_error(name))?;
        Ok(column.f64().map_err(column_error(name))?.to_vec())
    };
    let values = [floats("open")?, floats("high")?, floats("low")?, floats("close")?, floats("volume")?];
    let runs = pair_runs(&frame)?;
    let mut run_starts = runs.iter().flatten().map(|(_, rows)| rows.start).peekable();
    let mut bars = Vec::with_capacity(frame.height());
    for (row, millis) in ts.into_iter().enumerate() {
        let missing = |field: &str| SnapshotError::Row { row, problem: format!("{field} is missing") };
        let millis = millis.ok_or_else(|| missing("ts"))?;
        let ts = DateTime::from_timestamp_millis(millis)
            .ok_or_else(|| SnapshotError::Row { row, problem: format!("timestamp {millis} out of range") })?;
        let field = |i: usize, name: &str| values[i][row].ok_or_else(|| missing(name));
        let bar = Bar {
            ts,
            open: field(0, "open")?,
            high: field(1, "high")?,
            low: field(2, "low")?,
            close: field(3, "close")?,
            volume: field(4, "volume")?,
        };
        // A pair's first row follows no bar of its own.
        let previous = if run_starts.next_if_eq(&row).is_some() { None } else { bars.last() };
        check(&bar, previous).map_err(|problem| SnapshotError::Row { row, problem })?;
        bars.push(bar);
    }
    if bars.is_empty() {
        return Err(SnapshotError::Empty);
    }
    Ok(match runs {
        None => SnapshotBars::Pair(bars),
        Some(runs) => {
            SnapshotBars::Pairs(runs.into_iter().map(|(pair, rows)| (pair, Arc::from(&bars[rows]))).collect())
        }
    })
}

/// A pair's rows in a file of many pairs.
type PairRows = (Pair, Range<usize>);

/// Each pair's rows in a file of many pairs (`None` for a one-pair file): a pair's rows come
/// together, once.
fn pair_runs(frame: &DataFrame) -> Result<Option<Vec<PairRows>>, SnapshotError> {
    let Ok(symbols) = frame.column(SYMBOL_COLUMN) else {
        return Ok(None);
    };
    let text = |column: &'static str, values: &Column| -> Result<_, SnapshotError> {
        values.str().cloned().map_err(|e| SnapshotError::Column { column, detail: e.to_string() })
    };
    let symbols = text(SYMBOL_COLUMN, symbols)?;
    let timeframes = frame
        .column(TIMEFRAME_COLUMN)
        .map_err(|e| SnapshotError::Column { column: TIMEFRAME_COLUMN, detail: e.to_string() })?;
    let timeframes = text(TIMEFRAME_COLUMN, timeframes)?;
    let mut runs: Vec<PairRows> = Vec::new();
    let mut seen = HashSet::new();
    let mut previous = None;
    for (row, names) in symbols.iter().zip(timeframes.iter()).enumerate() {
        if previous == Some(names) {
            if let Some((_, rows)) = runs.last_mut() {
                rows.end = row + 1;
            }
            continue;
        }
        let bad = |problem: String| SnapshotError::Row { row, problem };
        let (Some(symbol), Some(timeframe)) = names else {
            return Err(bad("symbol or timeframe is missing".to_owned()));
        };
        let pair = Pair {
            symbol: Symbol::new(symbol).map_err(|e| bad(e.to_string()))?,
            timeframe: timeframe.parse().map_err(|e: crate::bar::TimeframeError| bad(e.to_string()))?,
        };
        if !seen.insert(pair.clone()) {
            return Err(bad(format!("{pair}'s rows are not all together")));
        }
        runs.push((pair, row..row + 1));
        previous = Some(names);
    }
    Ok(Some(runs))
}

fn check(bar: &Bar, previous: Option<&Bar>) -> Result<(), String> {
    let prices = [bar.open, bar.high, bar.low, bar.close];
    if prices.iter().any(|p| !p.is_finite() || *p <= 0.0) {
        return Err(format!("prices must be finite and positive: {prices:?}"));
    }
    if !(bar.low <= bar.open.min(bar.close) && bar.high >= bar.open.max(bar.close)) {
        return Err(format!("low/high do not bound open/close: {prices:?}"));
    }
    if !bar.volume.is_finite() || bar.volume < 0.0 {
        return Err(format!("volume must be finite and not negative: {}", bar.volume));
    }
    match previous {
        Some(previous) if previous.ts >= bar.ts => {
            Err(format!("timestamp {} does not follow {}", bar.ts, previous.ts))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(symbol: &str) -> Pair {
        Pair { symbol: Symbol::new(symbol).unwrap(), timeframe: crate::Timeframe::D1 }
    }

    fn bars(count: i64) -> Vec<Bar> {
        (0..count)
            .map(|i| Bar {
                ts: DateTime::from_timestamp(1_600_000_000 + i * 86_400, 0).unwrap(),
                open: 10.0 + i as f64,
                high: 12.0 + i as f64,
                low: 9.0 + i as f64,
                close: 11.0 + i as f64,
                volume: 100.0 * i as f64,
            })
            .collect()
    }

    #[test]
    fn a_snapshot_decodes_to_the_bars_it_was_written_from() {
        let bars = bars(10);
        let bytes = crate::ingest::bars_to_parquet(&bars).unwrap();
        assert_eq!(decode(&bytes).unwrap(), bars);
    }

    #[test]
    fn a_file_of_many_pairs_gives_each_pair_its_own_bars() {
        // The second pair's bars start before the first's end: each pair is its own series.
        let pairs = vec![(pair("AAPL"), bars(5)), (pair("MSFT"), bars(3)), (pair("BRK.B"), bars(1))];
        let decoded = decode_file(&encode_pairs(&pairs).unwrap()).unwrap();
        for (pair, bars) in &pairs {
            assert_eq!(decoded.of(pair), Some(&bars[..]), "{pair}");
        }
        assert_eq!(decoded.of(&pair("IBM")), None);
        assert_eq!(decoded.len(), 9);
        let error = decode(&encode_pairs(&pairs).unwrap()).unwrap_err();
        assert!(matches!(error, SnapshotError::Column { column: "symbol", .. }), "{error}");
    }

    #[test]
    fn a_pair_whose_rows_are_split_or_unordered_is_named() {
        let split = vec![(pair("AAPL"), bars(2)), (pair("MSFT"), bars(2)), (pair("AAPL"), bars(2))];
        let error = decode_file(&encode_pairs(&split).unwrap()).unwrap_err();
        assert!(
            matches!(&error, SnapshotError::Row { row: 4, problem } if problem.contains("AAPL d1")),
            "{error}"
        );
        let mut backwards = bars(3);
        backwards.swap(1, 2);
        let error =
            decode_file(&encode_pairs(&[(pair("MSFT"), bars(2)), (pair("AAPL"), backwards)]).unwrap())
                .unwrap_err();
        assert!(matches!(error, SnapshotError::Row { row: 4, .. }), "{error}");
    }

    #[test]
    fn garbage_and_unordered_rows_are_named() {
        assert!(matches!(decode(b"not parquet"), Err(SnapshotError::Parquet(_))));
        let bar = |secs| Bar {
            ts: DateTime::from_timestamp(secs, 0).unwrap(),
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 0.0,
        };
        let bytes = crate::ingest::bars_to_parquet(&[bar(60), bar(0)]).unwrap();
        let error = decode(&bytes).unwrap_err();
        assert!(matches!(error, SnapshotError::Row { row: 1, .. }), "{error}");
    }
}
