//! Ingest over every real bar file in `../shared/data`, as the files are.

mod common;

use ml_core::ingest::{FileFormat, IngestOptions, bars_to_parquet, ingest_file};
use ml_core::{Symbol, Timeframe};

#[test]
fn every_real_file_ingests_without_losing_a_row() {
    let mut files: Vec<_> = std::fs::read_dir(common::data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv" || e == "gz"))
        .collect();
    files.push(common::data_dir().join("reference/AAPL-daily-2025-2026.csv"));
    assert!(files.len() >= 5, "{files:?}");
    for path in &files {
        let ingested = ingest_file(path, &IngestOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let report = &ingested.report;
        for series in &report.series {
            assert_eq!(series.rows_read, series.rows_kept + series.rows_skipped, "{}", report.file);
        }
        for series in &ingested.series {
            assert!(series.bars.windows(2).all(|w| w[0].ts < w[1].ts), "{} ascending", series.symbol);
            assert!(
                series.bars.iter().all(|b| b.low <= b.open.min(b.close) && b.high >= b.open.max(b.close))
            );
        }
    }
}

#[test]
fn each_real_file_is_read_as_what_it_is() {
    let cases = [
        ("BTCUSD-1h-coinbase.csv", "BTCUSD", Timeframe::H1, 20_111, true),
        ("EURUSD-1h-2017.csv", "EURUSD", Timeframe::H1, 6_225, false),
        ("GOOGL-daily-2009-2018.csv", "GOOGL", Timeframe::D1, 2_335, false),
    ];
    for (file, symbol, timeframe, rows, reordered) in cases {
        let ingested = ingest_file(&common::data_dir().join(file), &IngestOptions::default()).unwrap();
        let series = &ingested.series[0];
        assert_eq!(
            (series.symbol.as_str(), series.timeframe, series.bars.len()),
            (symbol, timeframe, rows),
            "{file}"
        );
        assert_eq!(ingested.report.series[0].reordered, reordered, "{file}");
    }
    let btc =
        ingest_file(&common::data_dir().join("BTCUSD-1h-coinbase.csv"), &IngestOptions::default()).unwrap();
    assert_eq!(btc.report.preamble_lines, 1);
    assert_eq!(btc.series[0].bars[0].ts.to_rfc3339(), "2017-07-01T11:00:00+00:00");
}

#[test]
fn multi_ticker_gzip_is_split_and_split_adjusted() {
    let path = common::data_dir().join("stocks-daily-2000-2013.csv.gz");
    let ingested = ingest_file(&path, &IngestOptions::default()).unwrap();
    assert_eq!(ingested.report.format, FileFormat::CsvGzip);
    let symbols: Vec<&str> = ingested.series.iter().map(|s| s.symbol.as_str()).collect();
    assert_eq!(symbols, ["AAPL", "FB", "GOOG", "IBM", "MSFT"]);
    let aapl = &ingested.series[0];
    // Unadjusted, the 2:1 splits of 2000 and 2005 are -50 % days.
    for split_day in ["2000-06-21", "2005-02-28"] {
        let i = aapl.bars.iter().position(|b| b.ts.format("%F").to_string() == split_day).unwrap();
        let change = aapl.bars[i].close / aapl.bars[i - 1].close - 1.0;
        assert!(change.abs() < 0.1, "{split_day}: {change}");
    }

    let unadjusted = IngestOptions {
        adjustment: ml_core::ingest::Adjustment::Off,
        symbol: Some(Symbol::new("AAPL").unwrap()),
        ..Default::default()
    };
    let raw = ingest_file(&path, &unadjusted).unwrap();
    let bars = &raw.series[0].bars;
    let i = bars.iter().position(|b| b.ts.format("%F").to_string() == "2005-02-28").unwrap();
    assert!(bars[i].close / bars[i - 1].close - 1.0 < -0.45, "the raw file shows the split");
}

#[test]
fn parquet_round_trips_exactly() {
    let series = common::series("EURUSD-1h-2017.csv");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("EURUSD-h1.parquet");
    std::fs::write(&path, bars_to_parquet(&series.bars).unwrap()).unwrap();
    let ingested = ingest_file(&path, &IngestOptions::default()).unwrap();
    assert_eq!(ingested.report.format, FileFormat::Parquet);
    assert_eq!(ingested.series[0], series);
}
