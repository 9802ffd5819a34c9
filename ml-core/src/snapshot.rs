//! Bar snapshots: the Parquet bytes a train or forecast job reads, written by
//! [`crate::ingest::bars_to_parquet`]. Decoding is strict: a snapshot is ours, so anything
//! unexpected in it means corruption, reported with the row it was found at.

use chrono::DateTime;
use polars::prelude::{DataType, TimeUnit};

use crate::Bar;

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

/// The bars of a snapshot, checked: ascending unique timestamps, finite positive prices with
/// `low <= open, close <= high`, non-negative volume.
pub fn decode(bytes: &[u8]) -> Result<Vec<Bar>, SnapshotError> {
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
        check(&bar, bars.last()).map_err(|problem| SnapshotError::Row { row, problem })?;
        bars.push(bar);
    }
    if bars.is_empty() {
        return Err(SnapshotError::Empty);
    }
    Ok(bars)
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

    #[test]
    fn a_snapshot_decodes_to_the_bars_it_was_written_from() {
        let bars: Vec<Bar> = (0..10)
            .map(|i| Bar {
                ts: DateTime::from_timestamp(1_600_000_000 + i * 60, 0).unwrap(),
                open: 10.0 + i as f64,
                high: 12.0 + i as f64,
                low: 9.0 + i as f64,
                close: 11.0 + i as f64,
                volume: 100.0 * i as f64,
            })
            .collect();
        let bytes = crate::ingest::bars_to_parquet(&bars).unwrap();
        assert_eq!(decode(&bytes).unwrap(), bars);
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
