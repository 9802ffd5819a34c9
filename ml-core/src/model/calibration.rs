//! Whether a predicted probability can be believed: per class, the reliability diagram
//! (predicted probability bins against observed frequency, with counts), the expected
//! calibration error, and the Brier score's decomposition into reliability, resolution and
//! uncertainty (Murphy 1973).
//!
//! For class c, row i has the forecast `f_i` (its probability of c) and the outcome `o_i`
//! (1 if the row is of class c). With K equal-width bins of `f`, bin k holding `n_k` rows of
//! mean forecast `f̄_k` and observed frequency `ō_k`, and `ō` the overall frequency:
//! - ECE = Σ_k (n_k / N) |ō_k - f̄_k|
//! - reliability = (1/N) Σ_k n_k (f̄_k - ō_k)², resolution = (1/N) Σ_k n_k (ō_k - ō)²,
//!   uncertainty = ō (1 - ō)
//! - Brier = (1/N) Σ_i (f_i - o_i)² = reliability - resolution + uncertainty + within-bin
//!   terms, which vanish when every forecast in a bin is the same; `brier` is the exact
//!   score, so the gap shows how much binning smoothed.

use serde::{Deserialize, Serialize};

use crate::labels::Direction;

/// Bins of the reliability diagram, 0.1 wide.
pub const BINS: usize = 10;

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// The bin's range of predicted probability, `[low, high)` (the last one includes 1).
    pub low: f64,
    pub high: f64,
    pub count: usize,
    /// Mean predicted probability of its rows; `None` when empty.
    pub mean_predicted: Option<f64>,
    /// Share of its rows that were of the class; `None` when empty.
    pub observed: Option<f64>,
}

/// The calibration of one class's probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCalibration {
    pub class: Direction,
    pub bins: Vec<Bin>,
    pub ece: f64,
    /// The one-class Brier score, `(1/N) Σ (f - o)²`.
    pub brier: f64,
    pub reliability: f64,
    pub resolution: f64,
    pub uncertainty: f64,
}

/// Every class's calibration, and their mean ECE.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub classes: Vec<ClassCalibration>,
    /// The mean of the classes' ECE (class-wise ECE).
    pub ece: f64,
    pub rows: usize,
}

impl Calibration {
    /// The calibration of probability vectors (in [`Direction::ALL`] order) against the truth.
    pub fn compute(truth: &[Direction], probabilities: &[[f64; 3]]) -> Self {
        debug_assert_eq!(truth.len(), probabilities.len());
        let classes: Vec<ClassCalibration> = Direction::ALL
            .into_iter()
            .map(|class| {
                let forecasts: Vec<f64> = probabilities.iter().map(|p| p[class.index()]).collect();
                let outcomes: Vec<bool> = truth.iter().map(|t| *t == class).collect();
                class_calibration(class, &forecasts, &outcomes)
            })
            .collect();
        #[expect(clippy::cast_precision_loss, reason = "three classes")]
        let ece = classes.iter().map(|c| c.ece).sum::<f64>() / classes.len() as f64;
        Self { classes, ece, rows: truth.len() }
    }
}

fn class_calibration(class: Direction, forecasts: &[f64], outcomes: &[bool]) -> ClassCalibration {
    let mut count = [0usize; BINS];
    let mut forecast_sum = [0.0f64; BINS];
    let mut hits = [0usize; BINS];
    for (&f, &o) in forecasts.iter().zip(outcomes) {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "f is in [0, 1]")]
        let bin = ((f.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1);
        count[bin] += 1;
        forecast_sum[bin] += f;
        hits[bin] += usize::from(o);
    }
    #[expect(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
    let n = forecasts.len().max(1) as f64;
    #[expect(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
    let base_rate = outcomes.iter().filter(|o| **o).count() as f64 / n;
    let mut bins = Vec::with_capacity(BINS);
    let (mut ece, mut reliability, mut resolution) = (0.0, 0.0, 0.0);
    for k in 0..BINS {
        #[expect(clippy::cast_precision_loss, reason = "ten bins, row counts far below 2^52")]
        let (low, high, n_k) = (k as f64 / BINS as f64, (k + 1) as f64 / BINS as f64, count[k] as f64);
        let (mean_predicted, observed) = if count[k] == 0 {
            (None, None)
        } else {
            #[expect(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
            let observed = hits[k] as f64 / n_k;
            (Some(forecast_sum[k] / n_k), Some(observed))
        };
        if let (Some(f), Some(o)) = (mean_predicted, observed) {
            ece += n_k / n * (o - f).abs();
            reliability += n_k * (f - o).powi(2) / n;
            resolution += n_k * (o - base_rate).powi(2) / n;
        }
        bins.push(Bin { low, high, count: count[k], mean_predicted, observed });
    }
    let brier =
        forecasts.iter().zip(outcomes).map(|(f, o)| (f - f64::from(u8::from(*o))).powi(2)).sum::<f64>() / n;
    ClassCalibration {
        class,
        bins,
        ece,
        brier,
        reliability,
        resolution,
        uncertainty: base_rate * (1.0 - base_rate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows whose class is drawn with exactly the probabilities predicted for them: each
    /// probability level recurs with outcomes in its own proportion.
    fn calibrated_rows() -> (Vec<Direction>, Vec<[f64; 3]>) {
        let mut truth = Vec::new();
        let mut probabilities = Vec::new();
        // Levels of P(bullish) with the rest split evenly; 20 rows each.
        for tenths in [1u32, 3, 5, 7, 9] {
            let bullish = f64::from(tenths) / 10.0;
            let other = (1.0 - bullish) / 2.0;
            for i in 0..20u32 {
                let class = if i < tenths * 2 {
                    Direction::Bullish
                } else if i % 2 == 0 {
                    Direction::Bearish
                } else {
                    Direction::Neutral
                };
                truth.push(class);
                probabilities.push([other, other, bullish]);
            }
        }
        (truth, probabilities)
    }

    #[test]
    fn a_calibrated_predictor_has_an_ece_near_zero_and_a_miscalibrated_one_does_not() {
        let (truth, probabilities) = calibrated_rows();
        let calibrated = Calibration::compute(&truth, &probabilities);
        let bullish = &calibrated.classes[Direction::Bullish.index()];
        assert!(bullish.ece < 1e-12, "P(bullish) is exactly calibrated: ECE {}", bullish.ece);
        // Overconfident: the same rows, the probabilities pushed toward 0 and 1.
        let sharpened: Vec<[f64; 3]> = probabilities
            .iter()
            .map(|p| {
                let bullish = if p[2] > 0.5 {
                    0.99
                } else if p[2] < 0.5 {
                    0.01
                } else {
                    0.5
                };
                [(1.0 - bullish) / 2.0, (1.0 - bullish) / 2.0, bullish]
            })
            .collect();
        let overconfident = Calibration::compute(&truth, &sharpened);
        let bullish_over = &overconfident.classes[Direction::Bullish.index()];
        assert!(bullish_over.ece > 0.1, "ECE {}", bullish_over.ece);
        assert!(bullish_over.reliability > bullish.reliability);
    }

    #[test]
    fn the_brier_decomposition_adds_up_when_each_bin_holds_one_forecast() {
        let (truth, probabilities) = calibrated_rows();
        for class in Calibration::compute(&truth, &probabilities).classes {
            let sum = class.reliability - class.resolution + class.uncertainty;
            assert!((sum - class.brier).abs() < 1e-12, "{:?}: {sum} != {}", class.class, class.brier);
            let counted: usize = class.bins.iter().map(|b| b.count).sum();
            assert_eq!(counted, 100);
        }
    }
}
