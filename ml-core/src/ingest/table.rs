//! Reading a bar file into a [`RawTable`]: text cells with their line numbers, whatever the
//! container (CSV, gzip-compressed CSV, Parquet).
//!
//! Everything format-specific ends here; the rest of ingest sees one shape.

use std::io::Read;
use std::path::Path;

use polars::prelude::{DataType, TimeUnit};

use super::{ColumnOverrides, IngestError};

/// The container a file came in, as detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Csv,
    CsvGzip,
    Parquet,
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Csv => "csv",
            Self::CsvGzip => "csv.gz",
            Self::Parquet => "parquet",
        })
    }
}

/// One data row and the 1-based line (or Parquet row) it came from.
#[derive(Debug)]
pub struct RawRow {
    pub line: u64,
    pub cells: Vec<String>,
}

/// A file's header and rows, before any interpretation.
#[derive(Debug)]
pub struct RawTable {
    pub format: FileFormat,
    /// 1-based line of the header (0 for Parquet, whose schema is the header).
    pub header_line: u64,
    /// Lines before the header that were not data, such as a download banner.
    pub preamble_lines: u64,
    pub headers: Vec<String>,
    pub rows: Vec<RawRow>,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const PARQUET_MAGIC: &[u8] = b"PAR1";
/// How far down we look for the header line; banners are one or two lines.
const MAX_PREAMBLE_LINES: usize = 20;

pub fn read_table(path: &Path, overrides: &ColumnOverrides) -> Result<RawTable, IngestError> {
    let io_error = |source| IngestError::Io { path: path.to_owned(), source };
    let bytes = std::fs::read(path).map_err(io_error)?;
    if bytes.starts_with(PARQUET_MAGIC) {
        return read_parquet(path, &bytes);
    }
    let (format, bytes) = if bytes.starts_with(GZIP_MAGIC) {
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice()).read_to_end(&mut text).map_err(io_error)?;
        (FileFormat::CsvGzip, text)
    } else {
        (FileFormat::Csv, bytes)
    };
    read_csv(path, format, &bytes, overrides)
}

/// The header is the first line whose cells name the columns we need; lines before it are a
/// preamble.
fn read_csv(
    path: &Path,
    format: FileFormat,
    bytes: &[u8],
    overrides: &ColumnOverrides,
) -> Result<RawTable, IngestError> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.trim().is_empty() {
        return Err(IngestError::Empty { path: path.to_owned() });
    }
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').take(MAX_PREAMBLE_LINES).enumerate() {
        let delimiter = guess_delimiter(line);
        let cells: Vec<String> = line.trim_end().split(delimiter as char).map(unquote).collect();
        if super::columns::looks_like_header(&cells, overrides) {
            let header_line = index as u64 + 1;
            let rows = read_csv_rows(path, &text[offset..], delimiter, header_line)?;
            return Ok(RawTable { format, header_line, preamble_lines: index as u64, headers: cells, rows });
        }
        offset += line.len();
    }
    Err(IngestError::NoHeader { path: path.to_owned() })
}

fn unquote(cell: &str) -> String {
    cell.trim().trim_matches('"').trim().to_owned()
}

/// The candidate that splits the header line into the most cells.
fn guess_delimiter(header: &str) -> u8 {
    [b',', b';', b'\t', b'|']
        .into_iter()
        .max_by_key(|d| header.bytes().filter(|b| b == d).count())
        .unwrap_or(b',')
}

fn read_csv_rows(
    path: &Path,
    from_header: &str,
    delimiter: u8,
    header_line: u64,
) -> Result<Vec<RawRow>, IngestError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(from_header.as_bytes());
    let mut rows = Vec::new();
    let mut lines = LineCounter { text: from_header.as_bytes(), scanned: 0, newlines: header_line - 1 };
    for record in reader.records() {
        let record = record.map_err(|e| IngestError::Csv {
            path: path.to_owned(),
            line: e.position().map_or(0, |p| lines.line_at(p.byte())),
            detail: e.to_string(),
        })?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        rows.push(RawRow { line, cells: record.iter().map(str::to_owned).collect() });
    }
    Ok(rows)
}

/// 1-based file lines of byte offsets, counted once over the text as the reader moves on.
/// Not the csv crate's line numbers: after a CRLF it reports the next record one line early
/// (the record starts at the `\n` it has not consumed yet).
struct LineCounter<'a> {
    text: &'a [u8],
    scanned: usize,
    /// Newlines before `scanned`, plus the lines before the text.
    newlines: u64,
}

impl LineCounter<'_> {
    /// The line of the record that starts at `byte` (offsets only grow).
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte).unwrap_or(usize::MAX).clamp(self.scanned, self.text.len());
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        self.newlines += self.text[self.scanned..start].iter().filter(|b| **b == b'\n').count() as u64;
        self.scanned = start;
        self.newlines + 1
    }
}

/// Parquet columns become text so that one validation path serves every format; timestamps
/// become epoch milliseconds, which the timestamp detection reads back exactly.
fn read_parquet(path: &Path, bytes: &[u8]) -> Result<RawTable, IngestError> {
    let parquet_error = |source| IngestError::Parquet { path: path.to_owned(), source };
    let frame = super::read_parquet_frame(bytes).map_err(parquet_error)?;
    let mut columns = Vec::with_capacity(frame.width());
    for column in frame.columns() {
        let series = column.as_materialized_series();
        let series = match series.dtype() {
            DataType::Date | DataType::Datetime(_, _) => series
                .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
                .and_then(|s| s.cast(&DataType::Int64)),
            _ => Ok(series.clone()),
        }
        .and_then(|s| s.cast(&DataType::String))
        .map_err(parquet_error)?;
        columns.push(series);
    }
    let headers = frame.get_column_names().into_iter().map(|n| n.to_string()).collect();
    let mut rows = Vec::with_capacity(frame.height());
    for index in 0..frame.height() {
        let cells = columns
            .iter()
            .map(|c| c.str().ok().and_then(|s| s.get(index)).map(str::to_owned).unwrap_or_default())
            .collect();
        rows.push(RawRow { line: index as u64 + 1, cells });
    }
    if rows.is_empty() {
        return Err(IngestError::Empty { path: path.to_owned() });
    }
    Ok(RawTable { format: FileFormat::Parquet, header_line: 0, preamble_lines: 0, headers, rows })
}
