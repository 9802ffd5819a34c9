//! Bar files as users bring them, turned into validated, sorted [`BarSeries`] and a report of
//! everything that was read, kept and skipped.
//!
//! Formats are detected, not configured: the container (CSV, gzip, Parquet), a banner before the
//! header, the delimiter, the column names (any case, vendor aliases), the timestamp format, the
//! row order, the symbol (a ticker column, [`IngestOptions::symbol`] or the file name) and the
//! timeframe (the bars' median spacing). Every detection can be overridden.
//!
//! A row that cannot be used is skipped and counted under its reason, with the first line it
//! happened on; in [`IngestOptions::strict`] mode it fails the file instead. Nothing is dropped
//! without a line in the report.

mod columns;
mod report;
mod table;
mod timestamp;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use crate::bar::{Bar, Symbol, Timeframe};
use columns::ColumnMap;
pub use report::{FileReport, SeriesReport, SkipSummary};
pub use table::FileFormat;
use table::{RawRow, RawTable};
pub use timestamp::TimestampFormat;

/// When to apply split and dividend adjustment from an `Adj Close` column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Adjustment {
    /// On for daily and weekly bars, off for intraday ones (intraday vendors rarely ship a
    /// meaningful adjusted close).
    #[default]
    Auto,
    On,
    Off,
}

/// Column names that win over detection (matched like headers: any case, punctuation ignored).
#[derive(Debug, Clone, Default)]
pub struct ColumnOverrides {
    pub time: Option<String>,
    pub close: Option<String>,
    pub volume: Option<String>,
}

/// How to read a file. The default detects everything.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// With a ticker column: keep only this symbol. Without: the symbol of every row.
    pub symbol: Option<Symbol>,
    /// The bars' timeframe, instead of detecting it from their spacing.
    pub timeframe: Option<Timeframe>,
    pub adjustment: Adjustment,
    /// Fail on the first unusable row instead of skipping it.
    pub strict: bool,
    /// A chrono pattern for the timestamp column, instead of detecting it.
    pub timestamp_format: Option<String>,
    pub columns: ColumnOverrides,
}

/// The bars of one symbol at one timeframe, ascending, without duplicate timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct BarSeries {
    pub symbol: Symbol,
    pub timeframe: Timeframe,
    pub bars: Vec<Bar>,
}

/// A file's series and the report of how they were read.
#[derive(Debug)]
pub struct Ingested {
    pub series: Vec<BarSeries>,
    pub report: FileReport,
}

impl Ingested {
    /// The file's one series; an error naming the symbols when it holds several.
    pub fn into_single(self) -> Result<BarSeries, IngestError> {
        let mut series = self.series;
        if series.len() == 1 {
            return Ok(series.remove(0));
        }
        Err(IngestError::ManySymbols {
            path: PathBuf::from(self.report.file),
            symbols: series.iter().map(|s| s.symbol.to_string()).collect(),
        })
    }
}

/// Why a file could not be used at all. Row-level problems only reach here in strict mode.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot read {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is empty")]
    Empty { path: PathBuf },
    #[error("{path}: no header line with date/time, open, high, low and close columns in the first lines")]
    NoHeader { path: PathBuf },
    #[error("{path}: malformed csv at line {line}: {detail}")]
    Csv { path: PathBuf, line: u64, detail: String },
    #[error("{path}: cannot read parquet")]
    Parquet { path: PathBuf, source: polars::error::PolarsError },
    #[error("{path}: no {column} column (header: {headers})")]
    MissingColumn { path: PathBuf, column: String, headers: String },
    #[error("{path}: cannot read the timestamps in column {column} (first value {example:?}); pass a format")]
    Timestamp { path: PathBuf, column: String, example: String },
    #[error("{path}: no ticker column and no symbol given, and the file name gives none: {detail}")]
    Symbol { path: PathBuf, detail: String },
    #[error("{path}: cannot tell the timeframe of {symbol}: {detail}; pass one")]
    Timeframe { path: PathBuf, symbol: String, detail: String },
    #[error("{path}, line {line}, field {field}: {problem}")]
    Row { path: PathBuf, line: u64, field: &'static str, problem: String },
    #[error("{path}: no usable bar ({skipped} rows skipped)")]
    NoBars { path: PathBuf, skipped: u64 },
    #[error("{path} holds {} symbols ({}); pick one", symbols.len(), symbols.join(", "))]
    ManySymbols { path: PathBuf, symbols: Vec<String> },
}

impl IngestError {
    /// Only an I/O failure may go away by itself; every other error is in the file.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Io { .. })
    }
}

/// Why one row was skipped.
#[derive(Debug, Clone, PartialEq)]
enum RowProblem {
    Missing { field: &'static str },
    NotANumber { field: &'static str, value: String },
    NonFinite { field: &'static str },
    NonPositive { field: &'static str, value: f64 },
    NegativeVolume { value: f64 },
    HighBelowBody { high: f64, body: f64 },
    LowAboveBody { low: f64, body: f64 },
    BadTimestamp { value: String },
    BadSymbol { detail: String },
    Duplicate { first_line: u64 },
}

impl RowProblem {
    /// The report groups skipped rows by this key.
    fn reason(&self) -> String {
        match self {
            Self::Missing { field } => format!("missing {field}"),
            Self::NotANumber { field, .. } => format!("{field} is not a number"),
            Self::NonFinite { field } => format!("{field} is not finite"),
            Self::NonPositive { field, .. } => format!("{field} is not positive"),
            Self::NegativeVolume { .. } => "negative volume".to_owned(),
            Self::HighBelowBody { .. } => "high below max(open, close)".to_owned(),
            Self::LowAboveBody { .. } => "low above min(open, close)".to_owned(),
            Self::BadTimestamp { .. } => "unreadable timestamp".to_owned(),
            Self::BadSymbol { .. } => "invalid symbol".to_owned(),
            Self::Duplicate { .. } => "duplicate timestamp".to_owned(),
        }
    }

    fn field(&self) -> &'static str {
        match self {
            Self::Missing { field }
            | Self::NotANumber { field, .. }
            | Self::NonFinite { field }
            | Self::NonPositive { field, .. } => field,
            Self::NegativeVolume { .. } => "volume",
            Self::HighBelowBody { .. } => "high",
            Self::LowAboveBody { .. } => "low",
            Self::BadTimestamp { .. } | Self::Duplicate { .. } => "time",
            Self::BadSymbol { .. } => "symbol",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Missing { field } => format!("{field} is empty"),
            Self::NotANumber { field, value } => format!("{field} is {value:?}"),
            Self::NonFinite { field } => format!("{field} is infinite or NaN"),
            Self::NonPositive { field, value } => format!("{field} is {value}"),
            Self::NegativeVolume { value } => format!("volume is {value}"),
            Self::HighBelowBody { high, body } => format!("high {high} < max(open, close) {body}"),
            Self::LowAboveBody { low, body } => format!("low {low} > min(open, close) {body}"),
            Self::BadTimestamp { value } => format!("timestamp {value:?}"),
            Self::BadSymbol { detail } => detail.clone(),
            Self::Duplicate { first_line } => format!("same timestamp as line {first_line}"),
        }
    }
}

/// A row that passed validation, with its adjustment factor if the file has an adjusted close.
struct ParsedRow {
    line: u64,
    bar: Bar,
    adjusted_close: Option<f64>,
    /// Whether its high or low was moved onto the body (within [`PRICE_TOLERANCE`]).
    clamped: bool,
}

/// Rows and skips of one symbol, as they are collected.
#[derive(Default)]
struct SeriesRows {
    rows: Vec<ParsedRow>,
    read: u64,
    skipped: report::SkipTally,
}

/// Reads, validates and sorts every bar in `path`.
pub fn ingest_file(path: &Path, options: &IngestOptions) -> Result<Ingested, IngestError> {
    let table = table::read_table(path, &options.columns)?;
    if table.rows.is_empty() {
        return Err(IngestError::Empty { path: path.to_owned() });
    }
    let map = ColumnMap::from_headers(path, &table.headers, &options.columns)?;
    let format = timestamp_format(path, &table, &map, options)?;
    let fallback_symbol = match map.symbol {
        Some(_) => None,
        None => Some(default_symbol(path, options)?),
    };

    let mut by_symbol: BTreeMap<Symbol, SeriesRows> = BTreeMap::new();
    let mut unattributed = report::SkipTally::default();
    let mut other_symbols = 0u64;
    for row in &table.rows {
        let symbol = match (&fallback_symbol, map.symbol) {
            (Some(symbol), _) => symbol.clone(),
            (None, Some(column)) => match Symbol::new(cell(row, column)) {
                Ok(symbol) => symbol,
                Err(e) => {
                    let problem = RowProblem::BadSymbol { detail: e.to_string() };
                    unattributed.record(path, row.line, &problem, options.strict)?;
                    continue;
                }
            },
            (None, None) => unreachable!("a fallback symbol exists when there is no symbol column"),
        };
        if options.symbol.as_ref().is_some_and(|wanted| *wanted != symbol) {
            other_symbols += 1;
            continue;
        }
        let series = by_symbol.entry(symbol).or_default();
        series.read += 1;
        match parse_row(row, &map, &format) {
            Ok(parsed) => series.rows.push(parsed),
            Err(problem) => series.skipped.record(path, row.line, &problem, options.strict)?,
        }
    }

    let mut report = FileReport::new(path, &table, format);
    report.skipped = unattributed.into_summaries();
    if other_symbols > 0 {
        report.notes.push(format!("{other_symbols} rows of other symbols not selected"));
    }
    if map.volume.is_none() {
        report.notes.push("no volume column: volumes are 0".to_owned());
    }
    let mut series = Vec::new();
    for (symbol, rows) in by_symbol {
        let (bar_series, series_report) = finish_series(path, symbol, rows, &map, options)?;
        report.series.push(series_report);
        series.extend(bar_series);
    }
    if series.is_empty() {
        return Err(IngestError::NoBars { path: path.to_owned(), skipped: report.rows_skipped() });
    }
    Ok(Ingested { series, report })
}

fn cell(row: &RawRow, index: usize) -> &str {
    row.cells.get(index).map_or("", String::as_str)
}

fn time_text(row: &RawRow, map: &ColumnMap) -> String {
    map.time.iter().map(|&i| cell(row, i)).collect::<Vec<_>>().join(" ")
}

/// How many timestamps detection looks at; enough to see a day past the 12th in `a/b/yyyy`.
const TIMESTAMP_SAMPLE: usize = 500;

fn timestamp_format(
    path: &Path,
    table: &RawTable,
    map: &ColumnMap,
    options: &IngestOptions,
) -> Result<TimestampFormat, IngestError> {
    if let Some(pattern) = &options.timestamp_format {
        return Ok(TimestampFormat::custom(pattern));
    }
    let samples: Vec<String> = table
        .rows
        .iter()
        .map(|row| time_text(row, map))
        .filter(|t| !t.trim().is_empty())
        .take(TIMESTAMP_SAMPLE)
        .collect();
    let sample_refs: Vec<&str> = samples.iter().map(String::as_str).collect();
    TimestampFormat::detect(&sample_refs).ok_or_else(|| IngestError::Timestamp {
        path: path.to_owned(),
        column: map.time_label(&table.headers),
        example: samples.first().cloned().unwrap_or_default(),
    })
}

/// The symbol named by the option, else the file name's first word (`AAPL-daily.csv` → AAPL),
/// or the ticker of a TradingView export name (`NASDAQ_AAPL, 15.csv` → AAPL).
fn default_symbol(path: &Path, options: &IngestOptions) -> Result<Symbol, IngestError> {
    if let Some(symbol) = &options.symbol {
        return Ok(symbol.clone());
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let stem = match name.split_once(", ") {
        Some((exchange_ticker, _interval)) => exchange_ticker.rsplit('_').next().unwrap_or_default(),
        None => name.split(['-', '_', ' ', '.']).next().unwrap_or_default(),
    };
    Symbol::new(stem).map_err(|e| IngestError::Symbol { path: path.to_owned(), detail: e.to_string() })
}

fn number(row: &RawRow, index: usize, field: &'static str) -> Result<f64, RowProblem> {
    let raw = cell(row, index);
    if is_missing(raw) {
        return Err(RowProblem::Missing { field });
    }
    let value: f64 =
        raw.replace('_', "").parse().map_err(|_| RowProblem::NotANumber { field, value: raw.to_owned() })?;
    if !value.is_finite() {
        return Err(RowProblem::NonFinite { field });
    }
    Ok(value)
}

/// Cells that say "no value". `NaN` is not one of them: it parses, and is refused as not
/// finite, which is what it is.
fn is_missing(raw: &str) -> bool {
    matches!(raw.to_ascii_lowercase().as_str(), "" | "null" | "na" | "n/a" | "none" | "-")
}

fn positive(value: f64, field: &'static str) -> Result<f64, RowProblem> {
    if value > 0.0 { Ok(value) } else { Err(RowProblem::NonPositive { field, value }) }
}

fn parse_row(row: &RawRow, map: &ColumnMap, format: &TimestampFormat) -> Result<ParsedRow, RowProblem> {
    let time = time_text(row, map);
    if is_missing(time.trim()) {
        return Err(RowProblem::Missing { field: "time" });
    }
    let ts = format.parse(&time).ok_or_else(|| RowProblem::BadTimestamp { value: time.clone() })?;
    let open = positive(number(row, map.open, "open")?, "open")?;
    let high = positive(number(row, map.high, "high")?, "high")?;
    let low = positive(number(row, map.low, "low")?, "low")?;
    let close = positive(number(row, map.close, "close")?, "close")?;
    let volume = match map.volume {
        Some(index) => number(row, index, "volume")?,
        None => 0.0,
    };
    if volume < 0.0 {
        return Err(RowProblem::NegativeVolume { value: volume });
    }
    let body_top = open.max(close);
    let (high, high_clamped) = onto_body(high, body_top, Ordering::Less)
        .ok_or(RowProblem::HighBelowBody { high, body: body_top })?;
    let body_bottom = open.min(close);
    let (low, low_clamped) = onto_body(low, body_bottom, Ordering::Greater)
        .ok_or(RowProblem::LowAboveBody { low, body: body_bottom })?;
    let adjusted_close = match map.adj_close {
        Some(index) => Some(positive(number(row, index, "adj close")?, "adj close")?),
        None => None,
    };
    Ok(ParsedRow {
        line: row.line,
        bar: Bar { ts, open, high, low, close, volume },
        adjusted_close,
        clamped: high_clamped || low_clamped,
    })
}

/// How far (relative) a high may sit below the body, or a low above it, and still be the
/// body's edge: the rounding that split-adjusted exports carry (a high of 44.70100293299299
/// under a close of 44.701002932993 is one part in 1e14), far below any real price tick.
pub const PRICE_TOLERANCE: f64 = 1e-9;

/// An extreme (high or low) that is on the wrong side of the body's edge (`wrong`: `Less`
/// for a high, `Greater` for a low): itself when it is not, the edge with `true` when it is
/// within [`PRICE_TOLERANCE`], nothing when it is beyond.
fn onto_body(extreme: f64, edge: f64, wrong: Ordering) -> Option<(f64, bool)> {
    if extreme.partial_cmp(&edge) != Some(wrong) {
        return Some((extreme, false));
    }
    ((extreme - edge).abs() <= PRICE_TOLERANCE * edge).then_some((edge, true))
}

/// Sorts, removes duplicate timestamps, settles the timeframe and applies the adjustment.
fn finish_series(
    path: &Path,
    symbol: Symbol,
    mut rows: SeriesRows,
    map: &ColumnMap,
    options: &IngestOptions,
) -> Result<(Option<BarSeries>, SeriesReport), IngestError> {
    let reordered = rows.rows.windows(2).any(|w| w[0].bar.ts > w[1].bar.ts);
    // Stable: among equal timestamps the row that came first in the file is kept.
    rows.rows.sort_by_key(|r| r.bar.ts);
    let mut kept: Vec<ParsedRow> = Vec::with_capacity(rows.rows.len());
    for row in rows.rows {
        match kept.last() {
            Some(previous) if previous.bar.ts == row.bar.ts => {
                let problem = RowProblem::Duplicate { first_line: previous.line };
                rows.skipped.record(path, row.line, &problem, options.strict)?;
            }
            _ => kept.push(row),
        }
    }

    let timeframe = match options.timeframe {
        Some(given) => Some(given),
        None if kept.is_empty() => None,
        None => Some(detect_timeframe(kept.iter().map(|r| r.bar.ts)).map_err(|detail| {
            IngestError::Timeframe { path: path.to_owned(), symbol: symbol.to_string(), detail }
        })?),
    };
    let adjusted = map.adj_close.is_some()
        && match options.adjustment {
            Adjustment::On => true,
            Adjustment::Off => false,
            Adjustment::Auto => timeframe.is_some_and(Timeframe::is_daily_or_longer),
        };
    let bars: Vec<Bar> = kept
        .iter()
        .map(|row| match (adjusted, row.adjusted_close) {
            (true, Some(adjusted_close)) => adjust(row.bar, adjusted_close),
            _ => row.bar,
        })
        .collect();

    let clamped: Vec<u64> = kept.iter().filter(|row| row.clamped).map(|row| row.line).collect();
    let series_report = SeriesReport {
        symbol: symbol.clone(),
        timeframe,
        timeframe_detected: options.timeframe.is_none(),
        rows_read: rows.read,
        rows_kept: bars.len() as u64,
        rows_skipped: rows.skipped.total(),
        skipped: rows.skipped.into_summaries(),
        rows_clamped: clamped.len() as u64,
        first_clamped_line: clamped.first().copied(),
        first_bar: bars.first().map(|b| b.ts),
        last_bar: bars.last().map(|b| b.ts),
        adjusted,
        reordered,
    };
    let series =
        timeframe.map(|timeframe| BarSeries { symbol, timeframe, bars }).filter(|s| !s.bars.is_empty());
    Ok((series, series_report))
}

/// The bars as Parquet (the columns of [`crate::features::bars_frame`]); [`ingest_file`] reads
/// it back exactly.
pub fn bars_to_parquet(bars: &[Bar]) -> polars::error::PolarsResult<Vec<u8>> {
    use polars_io::prelude::ParquetWriter;
    let mut frame = crate::features::bars_frame(bars)?;
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut frame)?;
    Ok(bytes)
}

/// The most rows a Parquet file of bars may hold: a century of one-minute bars.
const MAX_PARQUET_ROWS: usize = 60_000_000;
/// The largest page polars may be asked to inflate.
const MAX_PARQUET_PAGE_BYTES: usize = 512 << 20;

/// Reads Parquet bytes as a frame. polars' reader trusts the file: some corrupt files make it
/// panic, and a page header claiming 2^58 values made it reserve that much memory and abort
/// the process (both found by `tests/fuzz.rs`). So the sizes in the headers are checked
/// first, and a panic is an error.
pub(crate) fn read_parquet_frame(bytes: &[u8]) -> polars::error::PolarsResult<polars::frame::DataFrame> {
    use polars_io::prelude::{ParquetReader, SerReader};
    let corrupt = |detail: String| polars::error::PolarsError::ComputeError(detail.into());
    let read = std::panic::catch_unwind(|| {
        check_parquet_sizes(bytes).map_err(corrupt)?;
        ParquetReader::new(std::io::Cursor::new(bytes)).finish()
    });
    read.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Err(corrupt(format!("the parquet reader failed: {message}")))
    })
}

/// Refuses a file whose row counts or page sizes could not be those of a real bar file.
fn check_parquet_sizes(bytes: &[u8]) -> Result<(), String> {
    use polars_parquet::parquet::page::CompressedPage;
    use polars_parquet::parquet::read::{get_page_iterator, read_metadata};
    let metadata = read_metadata(&mut std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    if metadata.num_rows > MAX_PARQUET_ROWS {
        return Err(format!("the file claims {} rows, over {MAX_PARQUET_ROWS}", metadata.num_rows));
    }
    let buffer = polars_buffer::Buffer::from(bytes.to_vec());
    for group in &metadata.row_groups {
        let rows = group.num_rows();
        if rows > metadata.num_rows {
            return Err(format!("a row group claims {rows} rows of the file's {}", metadata.num_rows));
        }
        for column in group.parquet_columns() {
            let cursor = std::io::Cursor::new(buffer.clone());
            let pages = get_page_iterator(column, cursor, Vec::new(), MAX_PARQUET_PAGE_BYTES)
                .map_err(|e| e.to_string())?;
            for page in pages {
                let CompressedPage::Data(page) = page.map_err(|e| e.to_string())? else { continue };
                if page.num_values() > rows || page.uncompressed_size() > MAX_PARQUET_PAGE_BYTES {
                    return Err(format!(
                        "a page claims {} values and {} bytes in a row group of {rows} rows",
                        page.num_values(),
                        page.uncompressed_size()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Scales prices by `adj_close / close` and volume by its inverse, so that a 2:1 split is
/// neither a -50 % return nor a doubling of volume. All four prices go through the same
/// multiplication, which keeps `low <= open, close <= high` exact.
fn adjust(bar: Bar, adjusted_close: f64) -> Bar {
    let factor = adjusted_close / bar.close;
    Bar {
        ts: bar.ts,
        open: bar.open * factor,
        high: bar.high * factor,
        low: bar.low * factor,
        close: bar.close * factor,
        volume: bar.volume / factor,
    }
}

/// The timeframe whose length is the median spacing of ascending, distinct timestamps. The
/// median ignores weekends, holidays and session gaps, which are always a minority.
pub fn detect_timeframe(timestamps: impl Iterator<Item = DateTime<Utc>>) -> Result<Timeframe, String> {
    let timestamps: Vec<DateTime<Utc>> = timestamps.collect();
    let mut gaps: Vec<Duration> = timestamps.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.is_empty() {
        return Err("fewer than two bars".to_owned());
    }
    gaps.sort_unstable();
    let median = gaps[gaps.len() / 2];
    Timeframe::from_duration(median).ok_or_else(|| {
        format!("bars are a median {} s apart, which is no known timeframe", median.num_seconds())
    })
}

#[cfg(test)]
mod tests;
