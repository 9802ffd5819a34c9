//! The feature set against the original pipeline's numbers (parity) and against the future
//! (causality).

mod common;

use ml_core::features::{self, FEATURES, READY_COLUMN, TRAINING_WARM_UP};

/// `|a - b| <= 1e-9 * max(|a|, |b|)`.
fn close_enough(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn reference_value(text: &str) -> f64 {
    match text {
        "True" => 1.0,
        "False" => 0.0,
        "" => f64::NAN,
        other => other.parse().unwrap_or_else(|_| panic!("reference value {other:?}")),
    }
}

#[test]
fn every_ported_column_matches_the_original_pipeline() {
    let series = common::series("reference/AAPL-daily-2025-2026.csv");
    assert_eq!(series.bars.len(), 250);
    let frame = features::compute(&series.bars).unwrap();

    let path = common::data_dir().join("reference/AAPL-daily-2025-2026-features.csv");
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 250);

    let mut compared = 0;
    for feature in FEATURES {
        let Some(index) = headers.iter().position(|h| h == feature.name) else { continue };
        compared += 1;
        let ours = common::column(&frame, feature.name);
        for (row, record) in rows.iter().enumerate() {
            let theirs = reference_value(&record[index]);
            let mine = ours[row];
            assert_eq!(
                mine.is_finite(),
                theirs.is_finite(),
                "{} row {row}: ours {mine}, original {theirs}",
                feature.name
            );
            if mine.is_finite() {
                assert!(
                    close_enough(mine, theirs),
                    "{} row {row}: ours {mine}, original {theirs}",
                    feature.name
                );
            }
        }
    }
    // Every original column we port, by name: 56 (the rest of FEATURES are our scale-free forms).
    assert_eq!(compared, 56);
}

/// Many series computed at once give each series exactly what it gets alone, bit for bit,
/// for every column: series of other lengths (one shorter than the warm-up, one of a single
/// bar) and of other symbols follow one another without reading each other's rows.
#[test]
fn many_series_at_once_are_each_what_they_are_alone() {
    let googl = common::series("GOOGL-daily-2009-2018.csv");
    let btc = common::series("BTCUSD-1h-coinbase.csv");
    let series: Vec<&[ml_core::Bar]> =
        vec![&googl.bars[..500], &btc.bars[..300], &googl.bars[700..760], &btc.bars[9..10], &btc.bars[..500]];
    let many = features::compute_many(&series).unwrap();
    let index = common::column(&many, features::SERIES_COLUMN);
    let names: Vec<&str> =
        ["ts", "close"].into_iter().chain(FEATURES.iter().map(|f| f.name)).chain([READY_COLUMN]).collect();
    let mut start = 0;
    for (i, bars) in series.iter().enumerate() {
        let alone = features::compute(bars).unwrap();
        let rows = start..start + bars.len();
        assert!(index[rows.clone()].iter().all(|&s| s == i as f64), "series {i}'s rows are its own");
        for name in &names {
            let (ours, expected) = (&common::column(&many, name)[rows.clone()], common::column(&alone, name));
            for (row, (value, expected)) in ours.iter().zip(&expected).enumerate() {
                assert!(
                    value.to_bits() == expected.to_bits() || (value.is_nan() && expected.is_nan()),
                    "series {i}, {name} at bar {row}: {value} at once, {expected} alone"
                );
            }
        }
        start = rows.end;
    }
    assert_eq!(many.height(), start);
}

/// Computing on `bars[..=t]` gives the same row t as computing on all bars, for every column.
#[test]
fn features_at_bar_t_use_bars_up_to_t_only() {
    let series = common::series("GOOGL-daily-2009-2018.csv");
    let bars = &series.bars[..800];
    let full = features::compute(bars).unwrap();
    let names: Vec<&str> = FEATURES.iter().map(|f| f.name).chain([READY_COLUMN]).collect();
    let full_columns: Vec<Vec<f64>> = names.iter().map(|n| common::column(&full, n)).collect();
    for cut in [0, 1, 13, 19, 20, 67, 68, 69, 199, 200, 450, 799] {
        let prefix = features::compute(&bars[..=cut]).unwrap();
        for (name, full_column) in names.iter().zip(&full_columns) {
            let value = common::column(&prefix, name)[cut];
            let expected = full_column[cut];
            assert!(
                value.to_bits() == expected.to_bits() || (value.is_nan() && expected.is_nan()),
                "{name} at bar {cut}: {value} on bars ..={cut}, {expected} on all bars"
            );
        }
    }
}

#[test]
fn warm_up_rows_are_never_ready_and_later_rows_are() {
    let series = common::series("GOOGL-daily-2009-2018.csv");
    let frame = features::compute(&series.bars).unwrap();
    let ready = common::column(&frame, READY_COLUMN);
    assert!(ready[..TRAINING_WARM_UP].iter().all(|&r| r == 0.0));
    for feature in FEATURES.iter().filter(|f| f.trains) {
        let values = common::column(&frame, feature.name);
        let missing = values[TRAINING_WARM_UP..].iter().position(|v| !v.is_finite());
        assert_eq!(missing, None, "{} is missing after the warm-up", feature.name);
    }
    assert!(ready[TRAINING_WARM_UP..].iter().all(|&r| r == 1.0), "real daily bars have finite features");
}

#[test]
fn docs_describe_every_feature() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/features.md")).unwrap();
    for feature in FEATURES {
        let row = docs
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", feature.name)))
            .unwrap_or_else(|| panic!("docs/features.md has no row for {}", feature.name));
        assert!(
            row.contains(&format!("| {} |", feature.warm_up)),
            "warm-up of {} in docs: {row}",
            feature.name
        );
        assert_eq!(
            row.contains("| yes |"),
            feature.trains,
            "training flag of {} in docs: {row}",
            feature.name
        );
    }
}

/// Fifteen identical bars make the 14-bar range empty: Williams %R and the stochastics are
/// missing there (never ±inf), and those rows are not ready.
#[test]
fn a_flat_stretch_is_missing_not_infinite_and_not_ready() {
    let mut bars = common::series("GOOGL-daily-2009-2018.csv").bars[..200].to_vec();
    let flat = bars[120];
    for bar in &mut bars[120..135] {
        *bar = ml_core::Bar { ts: bar.ts, ..flat };
        bar.high = bar.close;
        bar.low = bar.close;
        bar.open = bar.close;
    }
    let frame = features::compute(&bars).unwrap();
    let williams = common::column(&frame, "williams_r");
    let ready = common::column(&frame, READY_COLUMN);
    assert!(williams[134].is_nan(), "{}", williams[134]);
    assert!(FEATURES.iter().all(|f| common::column(&frame, f.name).iter().all(|v| !v.is_infinite())));
    assert_eq!(ready[134], 0.0);
    assert_eq!(ready[119], 1.0);
}
