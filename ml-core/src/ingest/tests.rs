use std::io::Write;

use super::*;

fn write(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path).unwrap().write_all(content).unwrap();
    (dir, path)
}

fn ingest(name: &str, content: &str, options: &IngestOptions) -> Result<Ingested, IngestError> {
    let (_dir, path) = write(name, content.as_bytes());
    ingest_file(&path, options)
}

const YAHOO: &str = "Date,Open,High,Low,Close,Adj Close,Volume
2024-01-03,10,11,9,10,5,100
2024-01-02,10,11,9,10,5,100
2024-01-04,10,11,9,10.5,5.25,100
";

#[test]
fn yahoo_file_is_sorted_adjusted_and_named_from_the_file() {
    let ingested = ingest("spy-daily.csv", YAHOO, &IngestOptions::default()).unwrap();
    let [series] = ingested.series.as_slice() else { panic!("one series") };
    assert_eq!(series.symbol.as_str(), "SPY");
    assert_eq!(series.timeframe, Timeframe::D1);
    let closes: Vec<f64> = series.bars.iter().map(|b| b.close).collect();
    assert_eq!(closes, [5.0, 5.0, 5.25]);
    assert_eq!(series.bars[0].high, 5.5);
    assert_eq!(series.bars[0].volume, 200.0);
    let report = &ingested.report.series[0];
    assert!(report.adjusted && report.reordered && report.timeframe_detected);
}

#[test]
fn adjustment_can_be_switched_off() {
    let options = IngestOptions { adjustment: Adjustment::Off, ..Default::default() };
    let ingested = ingest("spy.csv", YAHOO, &options).unwrap();
    assert_eq!(ingested.series[0].bars[0].close, 10.0);
    assert!(!ingested.report.series[0].adjusted);
}

const BAD_ROWS: &str = "time,open,high,low,close,volume
2024-01-02 10:00,10,11,9,10,100
2024-01-02 11:00,10,11,9,,100
2024-01-02 12:00,10,9.5,9,10,100
2024-01-02 13:00,10,11,10.5,10,100
2024-01-02 14:00,10,11,9,10,-1
2024-01-02 15:00,10,11,9,inf,100
2024-01-02 16:00,0,11,9,10,100
2024-01-02 17:00,10,11,9,abc,100
2024-01-02 10:00,10,11,9,10,100
garbage,10,11,9,10,100
2024-01-02 17:30,10,11,9,NaN,100
2024-01-02 18:00,10,11,9,10,100
";

#[test]
fn bad_rows_are_skipped_and_reported_with_their_lines() {
    // Two good rows eight hours apart would detect no timeframe: name it.
    let options = IngestOptions { timeframe: Some(Timeframe::H1), ..Default::default() };
    // The same lines with Windows line ends (the shipped EURUSD sample has them).
    for text in [BAD_ROWS.to_owned(), BAD_ROWS.replace('\n', "\r\n")] {
        let ingested = ingest("X.csv", &text, &options).unwrap();
        let report = &ingested.report.series[0];
        assert_eq!((report.rows_read, report.rows_kept, report.rows_skipped), (12, 2, 10));
        let reasons: BTreeMap<&str, (u64, u64)> =
            report.skipped.iter().map(|s| (s.reason.as_str(), (s.count, s.first_line))).collect();
        assert_eq!(reasons["missing close"], (1, 3), "{text:?}");
        assert_eq!(reasons["high below max(open, close)"], (1, 4));
        assert_eq!(reasons["low above min(open, close)"], (1, 5));
        assert_eq!(reasons["negative volume"], (1, 6));
        assert_eq!(reasons["close is not finite"], (2, 7), "inf, and NaN on line 12");
        assert_eq!(reasons["open is not positive"], (1, 8));
        assert_eq!(reasons["close is not a number"], (1, 9));
        assert_eq!(reasons["duplicate timestamp"], (1, 10));
        assert_eq!(reasons["unreadable timestamp"], (1, 11));
        assert_eq!(ingested.report.rows_skipped(), 10);
    }
}

/// Rows of a split-adjusted export: the high of line 3 and the low of line 4 are off the body
/// by rounding (1e-14 relative), line 5's high is a real 1 % below it.
const ROUNDED_EXTREMES: &str = "date,open,high,low,close,volume
2024-01-02,44.6,44.9,44.5,44.8,100
2024-01-03,44.6,44.70100293299299,44.5,44.701002932993,100
2024-01-04,44.701002932993,44.9,44.70100293299399,44.8,100
2024-01-05,44.6,44.25,44.1,44.7,100
2024-01-08,44.6,44.9,44.5,44.8,100
";

#[test]
fn extremes_off_the_body_by_rounding_are_clamped_and_reported_not_skipped() {
    for strict in [false, true] {
        let options = IngestOptions { strict, ..Default::default() };
        let result = ingest("AAPL.csv", ROUNDED_EXTREMES, &options);
        if strict {
            let error = result.unwrap_err().to_string();
            assert!(error.ends_with("line 5, field high: high 44.25 < max(open, close) 44.7"), "{error}");
            continue;
        }
        let ingested = result.unwrap();
        let report = &ingested.report.series[0];
        assert_eq!((report.rows_kept, report.rows_skipped, report.rows_clamped), (4, 1, 2));
        assert_eq!(report.first_clamped_line, Some(3));
        assert_eq!(report.skipped[0].reason, "high below max(open, close)");
        let bars = &ingested.series[0].bars;
        assert_eq!(bars[1].high, 44.701002932993, "the high is the body's top");
        assert_eq!(bars[2].low, 44.701002932993, "the low is the body's bottom");
        assert!(bars.iter().all(|b| b.low <= b.open.min(b.close) && b.high >= b.open.max(b.close)));
        let text = ingested.report.to_string();
        assert!(text.contains("clamped    2 x high or low past the body by rounding only"), "{text}");
    }
}

#[test]
fn strict_mode_names_file_line_and_field() {
    let options = IngestOptions { strict: true, ..Default::default() };
    let err = ingest("X.csv", BAD_ROWS, &options).unwrap_err().to_string();
    assert!(err.ends_with("X.csv, line 3, field close: close is empty"), "{err}");
    let crlf = ingest("X.csv", &BAD_ROWS.replace('\n', "\r\n"), &options).unwrap_err().to_string();
    assert!(crlf.ends_with("X.csv, line 3, field close: close is empty"), "{crlf}");
    let nan = "time,open,high,low,close,volume\n2024-01-02 10:00,10,11,9,NaN,100\n";
    let err = ingest("X.csv", nan, &options).unwrap_err().to_string();
    assert!(err.ends_with("X.csv, line 2, field close: close is infinite or NaN"), "{err}");
}

#[test]
fn unusable_files_fail_with_a_reason() {
    let options = IngestOptions::default();
    assert!(matches!(ingest("X.csv", "", &options), Err(IngestError::Empty { .. })));
    assert!(matches!(ingest("X.csv", "a,b,c\n1,2,3\n", &options), Err(IngestError::NoHeader { .. })));
    assert!(matches!(
        ingest("X.csv", "date,open,high,low,close\n", &options),
        Err(IngestError::Empty { .. })
    ));
    let all_bad = "date,open,high,low,close\n2024-01-02,1,1,1,-1\n";
    assert!(matches!(ingest("X.csv", all_bad, &options), Err(IngestError::NoBars { skipped: 1, .. })));
    let unreadable = "date,open,high,low,close\nmonday,1,1,1,1\n";
    assert!(matches!(ingest("X.csv", unreadable, &options), Err(IngestError::Timestamp { .. })));
    let irregular = "date,open,high,low,close\n2024-01-02 00:00,1,1,1,1\n2024-01-02 00:07,1,1,1,1\n";
    assert!(matches!(ingest("X.csv", irregular, &options), Err(IngestError::Timeframe { .. })));
    let no_symbol = "date,open,high,low,close\n2024-01-02,1,1,1,1\n2024-01-03,1,1,1,1\n";
    assert!(matches!(ingest("?.csv", no_symbol, &options), Err(IngestError::Symbol { .. })));
}

#[test]
fn multi_ticker_banner_newest_first_semicolons_and_gzip() {
    let content = "Downloaded from somewhere\nTICKER;DATE;OPEN;HIGH;LOW;CLOSE;VOLUME\n\
        bbb;2024-01-03;1;2;1;2;10\naaa;2024-01-03;1;2;1;2;10\nbbb;2024-01-02;1;2;1;2;10\n\
        aaa;2024-01-02;1;2;1;2;10\nb@d;2024-01-02;1;2;1;2;10\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(content.as_bytes()).unwrap();
    let (_dir, path) = write("many.csv.gz", &gz.finish().unwrap());
    let ingested = ingest_file(&path, &IngestOptions::default()).unwrap();
    let symbols: Vec<&str> = ingested.series.iter().map(|s| s.symbol.as_str()).collect();
    assert_eq!(symbols, ["AAA", "BBB"]);
    assert_eq!(ingested.report.format, FileFormat::CsvGzip);
    assert_eq!((ingested.report.header_line, ingested.report.preamble_lines), (2, 1));
    assert!(ingested.report.series.iter().all(|s| s.reordered && s.rows_kept == 2));
    assert_eq!(ingested.report.skipped[0].reason, "invalid symbol");

    let only_b = IngestOptions { symbol: Some(Symbol::new("bbb").unwrap()), ..Default::default() };
    let ingested = ingest_file(&path, &only_b).unwrap();
    assert_eq!(ingested.series.len(), 1);
    assert_eq!(ingested.report.notes, ["2 rows of other symbols not selected"]);
}

#[test]
fn overrides_for_timeframe_format_and_columns() {
    let content = "stamp,o,h,l,c,vol_a,vol_b\n2024.01.02-10:00,1,2,1,2,5,7\n2024.01.02-14:00,1,2,1,2,5,7\n";
    let options = IngestOptions {
        symbol: Some(Symbol::new("x").unwrap()),
        timeframe: Some(Timeframe::H4),
        timestamp_format: Some("%Y.%m.%d-%H:%M".into()),
        columns: ColumnOverrides {
            time: Some("STAMP".into()),
            volume: Some("vol b".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let ingested = ingest("data.csv", content, &options).unwrap();
    let series = &ingested.series[0];
    assert_eq!((series.timeframe, series.bars[0].volume), (Timeframe::H4, 7.0));
    assert!(!ingested.report.series[0].timeframe_detected);
}

#[test]
fn timeframes_are_detected_from_the_median_spacing() {
    let hourly = "time,open,high,low,close\n1704189600,1,1,1,1\n1704193200,1,1,1,1\n1704279600,1,1,1,1\n1704283200,1,1,1,1\n";
    let ingested = ingest("X.csv", hourly, &IngestOptions::default()).unwrap();
    assert_eq!(ingested.series[0].timeframe, Timeframe::H1);
    assert_eq!(ingested.report.notes, ["no volume column: volumes are 0"]);
}

#[test]
fn tradingview_export_with_epoch_times_and_extra_columns() {
    let content = "time,open,high,low,close,Plot,Volume,Volume MA\n\
        1704205800,10,11,9,10.5,1,1000,900\n1704206700,10.5,11,10,10.8,1,1200,950\n";
    let ingested = ingest("NASDAQ_AAPL, 15.csv", content, &IngestOptions::default()).unwrap();
    let series = &ingested.series[0];
    assert_eq!((series.symbol.as_str(), series.timeframe), ("AAPL", Timeframe::M15));
    assert_eq!(series.bars[1].volume, 1200.0);
    assert_eq!(series.bars[0].ts.to_rfc3339(), "2024-01-02T14:30:00+00:00");
}
