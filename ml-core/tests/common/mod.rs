//! Helpers shared by the integration tests of `ml-core`.

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ml_core::ingest::{BarSeries, IngestOptions, ingest_file};

/// `../shared/data` beside the repository, or `BOLTFLEET_DATA` when set.
pub fn data_dir() -> PathBuf {
    std::env::var_os("BOLTFLEET_DATA")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), PathBuf::from)
}

/// The one series of a single-symbol file in the data folder.
pub fn series(relative: &str) -> BarSeries {
    let ingested = ingest_file(&data_dir().join(relative), &IngestOptions::default()).expect("ingests");
    assert_eq!(ingested.series.len(), 1, "{relative} holds one series");
    ingested.series.into_iter().next().expect("one series")
}

/// A feature column as f64, with missing values as NaN.
pub fn column(frame: &polars::prelude::DataFrame, name: &str) -> Vec<f64> {
    let column = frame.column(name).expect("column exists");
    let values = column.cast(&polars::prelude::DataType::Float64).expect("numeric");
    values.f64().expect("f64").iter().map(|v| v.unwrap_or(f64::NAN)).collect()
}
