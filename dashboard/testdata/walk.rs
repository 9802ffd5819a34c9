//! Bars for the dashboard's tests and benchmark, included by both with `#[path]`: a random
//! walk (fixed seed) of daily bars, so that a model trains on them in milliseconds.

use chrono::{DateTime, Duration, Utc};
use ml_core::Bar;

pub fn walk(count: usize) -> Vec<Bar> {
    let start: DateTime<Utc> = "2021-01-04T00:00:00Z".parse().unwrap();
    let mut state = 7_u64;
    let mut close = 50.0_f64;
    (0..count)
        .map(|i| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let step = f64::from(u32::try_from(state >> 40).unwrap()) / f64::from(1_u32 << 24) - 0.5;
            close *= 1.0 + step * 0.04;
            let ts = start + Duration::days(i64::try_from(i).unwrap());
            Bar { ts, open: close, high: close * 1.01, low: close * 0.99, close, volume: 10_000.0 }
        })
        .collect()
}
