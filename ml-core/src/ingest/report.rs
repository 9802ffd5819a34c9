//! What an ingest did, per file and per series, for people (`boltfleet ingest --check`) and
//! machines (`--json`).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::table::{FileFormat, RawTable};
use super::{IngestError, RowProblem, TimestampFormat};
use crate::bar::{Symbol, Timeframe};

/// Skipped rows sharing one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkipSummary {
    pub reason: String,
    pub count: u64,
    /// The first line this happened on, and what was wrong there.
    pub first_line: u64,
    pub first_field: &'static str,
    pub first_detail: String,
}

/// Counts skipped rows by reason while rows are read.
#[derive(Debug, Default)]
pub(super) struct SkipTally(BTreeMap<String, SkipSummary>);

impl SkipTally {
    /// Counts a skipped row, or fails with it in strict mode.
    pub(super) fn record(
        &mut self,
        path: &Path,
        line: u64,
        problem: &RowProblem,
        strict: bool,
    ) -> Result<(), IngestError> {
        if strict {
            return Err(IngestError::Row {
                path: path.to_owned(),
                line,
                field: problem.field(),
                problem: problem.detail(),
            });
        }
        let reason = problem.reason();
        self.0
            .entry(reason.clone())
            .or_insert_with(|| SkipSummary {
                reason,
                count: 0,
                first_line: line,
                first_field: problem.field(),
                first_detail: problem.detail(),
            })
            .count += 1;
        Ok(())
    }

    pub(super) fn total(&self) -> u64 {
        self.0.values().map(|s| s.count).sum()
    }

    pub(super) fn into_summaries(self) -> Vec<SkipSummary> {
        self.0.into_values().collect()
    }
}

/// One symbol's bars in a file.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesReport {
    pub symbol: Symbol,
    /// `None` only when no row of the series was usable.
    pub timeframe: Option<Timeframe>,
    /// Whether the timeframe was detected (true) or given.
    pub timeframe_detected: bool,
    pub rows_read: u64,
    pub rows_kept: u64,
    pub rows_skipped: u64,
    pub skipped: Vec<SkipSummary>,
    /// Kept rows whose high or low sat on the wrong side of the body by rounding only (within
    /// [`super::PRICE_TOLERANCE`], relative) and was set to the body's edge.
    pub rows_clamped: u64,
    pub first_clamped_line: Option<u64>,
    pub first_bar: Option<DateTime<Utc>>,
    pub last_bar: Option<DateTime<Utc>>,
    /// Whether prices were scaled by `Adj Close / Close`.
    pub adjusted: bool,
    /// Whether the file's rows were not in ascending time order.
    pub reordered: bool,
}

/// One file: how it was read and what each series holds.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: String,
    pub format: FileFormat,
    pub header_line: u64,
    /// Lines before the header that were skipped, such as a download banner.
    pub preamble_lines: u64,
    pub timestamp_format: TimestampFormat,
    pub series: Vec<SeriesReport>,
    /// Rows that belong to no series (their symbol was invalid).
    pub skipped: Vec<SkipSummary>,
    pub notes: Vec<String>,
}

impl FileReport {
    pub(super) fn new(path: &Path, table: &RawTable, timestamp_format: TimestampFormat) -> Self {
        Self {
            file: path.display().to_string(),
            format: table.format,
            header_line: table.header_line,
            preamble_lines: table.preamble_lines,
            timestamp_format,
            series: Vec::new(),
            skipped: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn rows_skipped(&self) -> u64 {
        let unattributed: u64 = self.skipped.iter().map(|s| s.count).sum();
        unattributed + self.series.iter().map(|s| s.rows_skipped).sum::<u64>()
    }
}

impl std::fmt::Display for FileReport {
    /// The human report: one block per file, one line per series and per skip reason.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let timestamps = String::from(self.timestamp_format.clone());
        writeln!(
            f,
            "{} ({}, header at line {}, timestamps {timestamps})",
            self.file, self.format, self.header_line
        )?;
        for series in &self.series {
            let timeframe = series.timeframe.map_or("?", Timeframe::as_str);
            let range = match (series.first_bar, series.last_bar) {
                (Some(first), Some(last)) => {
                    format!("{} .. {}", first.format("%Y-%m-%d %H:%M"), last.format("%Y-%m-%d %H:%M"))
                }
                _ => "no bars".to_owned(),
            };
            let mut flags = Vec::new();
            if series.adjusted {
                flags.push("adjusted");
            }
            if series.reordered {
                flags.push("reordered");
            }
            writeln!(
                f,
                "  {:<8} {:<4} read {:>6}  kept {:>6}  skipped {:>4}  {range}{}",
                series.symbol.as_str(),
                timeframe,
                series.rows_read,
                series.rows_kept,
                series.rows_skipped,
                if flags.is_empty() { String::new() } else { format!("  [{}]", flags.join(", ")) },
            )?;
            write_skips(f, &series.skipped)?;
            if let Some(first_line) = series.first_clamped_line {
                writeln!(
                    f,
                    "    clamped {:>4} x high or low past the body by rounding only, set to the body \
                     (first at line {first_line})",
                    series.rows_clamped
                )?;
            }
        }
        write_skips(f, &self.skipped)?;
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

fn write_skips(f: &mut std::fmt::Formatter<'_>, skips: &[SkipSummary]) -> std::fmt::Result {
    for skip in skips {
        writeln!(
            f,
            "    skipped {:>4} x {} (first at line {}, {}: {})",
            skip.count, skip.reason, skip.first_line, skip.first_field, skip.first_detail
        )?;
    }
    Ok(())
}
