//! Classification metrics, each with what it takes to read it honestly: accuracy with its 95 %
//! Wilson interval, per-class precision/recall/F1, the confusion matrix, log-loss and Brier.

use serde::{Deserialize, Serialize};

use crate::labels::Direction;

/// z for a two-sided 95 % interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// Probabilities are clipped to this before the log, as scikit-learn does, so one confident
/// mistake costs a lot but not infinity.
const LOG_LOSS_EPSILON: f64 = 1e-15;

/// A proportion with its 95 % Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Proportion {
    pub value: f64,
    pub low: f64,
    pub high: f64,
    pub n: usize,
}

impl Proportion {
    /// `successes / n` with its Wilson interval, which behaves at 0, 1 and small n where the
    /// normal approximation does not.
    pub fn wilson(successes: usize, n: usize) -> Self {
        if n == 0 {
            // No evidence: the interval is everything (0, not NaN, keeps the JSON readable).
            return Self { value: 0.0, low: 0.0, high: 1.0, n };
        }
        #[expect(clippy::cast_precision_loss, reason = "sample counts are far below 2^52")]
        let (k, n_f) = (successes as f64, n as f64);
        let p = k / n_f;
        let z2 = Z_95 * Z_95;
        let centre = (p + z2 / (2.0 * n_f)) / (1.0 + z2 / n_f);
        let half = Z_95 / (1.0 + z2 / n_f) * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
        // At 0 and n successes the bounds are exactly 0 and 1; rounding would miss them.
        let low = if successes == 0 { 0.0 } else { (centre - half).max(0.0) };
        let high = if successes == n { 1.0 } else { (centre + half).min(1.0) };
        Self { value: p, low, high, n }
    }
}

/// Precision, recall and F1 of one class; `None` where the denominator is zero.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: Direction,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// How many rows truly are of this class.
    pub support: usize,
}

/// The metrics of one set of predictions against the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub accuracy: Proportion,
    /// Rows: true class, columns: predicted class, in [`Direction::ALL`] order.
    pub confusion: [[usize; 3]; 3],
    pub per_class: Vec<ClassMetrics>,
    /// Multiclass log-loss; `None` for predictors without probabilities (the baselines).
    pub log_loss: Option<f64>,
    /// Multiclass Brier score (mean squared error of the probability vector, 0 to 2).
    pub brier: Option<f64>,
}

fn ratio(numerator: usize, denominator: usize) -> Option<f64> {
    #[expect(clippy::cast_precision_loss, reason = "sample counts are far below 2^52")]
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

impl Metrics {
    /// Metrics of hard predictions, with probabilities when the predictor has them
    /// (one `[bearish, neutral, bullish]` vector per row).
    pub fn compute(truth: &[Direction], predicted: &[Direction], probabilities: Option<&[[f64; 3]]>) -> Self {
        debug_assert_eq!(truth.len(), predicted.len());
        let mut confusion = [[0usize; 3]; 3];
        for (t, p) in truth.iter().zip(predicted) {
            confusion[t.index()][p.index()] += 1;
        }
        let correct: usize = (0..3).map(|i| confusion[i][i]).sum();
        let per_class = Direction::ALL
            .into_iter()
            .map(|class| {
                let i = class.index();
                let predicted_as: usize = (0..3).map(|t| confusion[t][i]).sum();
                let support: usize = confusion[i].iter().sum();
                let precision = ratio(confusion[i][i], predicted_as);
                let recall = ratio(confusion[i][i], support);
                let f1 = match (precision, recall) {
                    (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
                    (Some(_), Some(_)) => Some(0.0),
                    _ => None,
                };
                ClassMetrics { class, precision, recall, f1, support }
            })
            .collect();
        let (log_loss, brier) = match probabilities {
            Some(probabilities) if !truth.is_empty() => {
                debug_assert_eq!(probabilities.len(), truth.len());
                #[expect(clippy::cast_precision_loss, reason = "sample counts are far below 2^52")]
                let n = truth.len() as f64;
                let log_loss = truth
                    .iter()
                    .zip(probabilities)
                    .map(|(t, p)| -p[t.index()].clamp(LOG_LOSS_EPSILON, 1.0).ln())
                    .sum::<f64>()
                    / n;
                let brier = truth
                    .iter()
                    .zip(probabilities)
                    .map(|(t, p)| {
                        (0..3).map(|i| (p[i] - if i == t.index() { 1.0 } else { 0.0 }).powi(2)).sum::<f64>()
                    })
                    .sum::<f64>()
                    / n;
                (Some(log_loss), Some(brier))
            }
            _ => (None, None),
        };
        Self { accuracy: Proportion::wilson(correct, truth.len()), confusion, per_class, log_loss, brier }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Bearish, Bullish, Neutral};

    #[test]
    fn wilson_interval_matches_known_values() {
        // 81 of 263, a textbook example: 0.3080 with interval 0.2553 to 0.3662.
        let p = Proportion::wilson(81, 263);
        assert!((p.value - 0.30798).abs() < 1e-4);
        assert!((p.low - 0.2553).abs() < 1e-3 && (p.high - 0.3662).abs() < 1e-3, "{p:?}");
        let all = Proportion::wilson(10, 10);
        assert!(all.high == 1.0 && all.low > 0.69 && all.low < 0.73, "{all:?}");
        assert_eq!(Proportion::wilson(0, 0).n, 0);
    }

    #[test]
    fn metrics_of_a_small_example() {
        let truth = [Bullish, Bullish, Neutral, Bearish, Bearish, Bearish];
        let predicted = [Bullish, Neutral, Neutral, Bearish, Bullish, Bearish];
        let probabilities = [
            [0.1, 0.1, 0.8],
            [0.1, 0.6, 0.3],
            [0.2, 0.7, 0.1],
            [0.9, 0.05, 0.05],
            [0.3, 0.2, 0.5],
            [0.6, 0.2, 0.2],
        ];
        let m = Metrics::compute(&truth, &predicted, Some(&probabilities));
        assert!((m.accuracy.value - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(m.confusion, [[2, 0, 1], [0, 1, 0], [0, 1, 1]]);
        let bullish = &m.per_class[2];
        assert_eq!((bullish.precision, bullish.recall, bullish.support), (Some(0.5), Some(0.5), 2));
        let bearish = &m.per_class[0];
        assert_eq!(bearish.precision, Some(1.0));
        assert!((bearish.f1.unwrap() - 0.8).abs() < 1e-12);
        let expected_log_loss = -[0.8f64, 0.3, 0.7, 0.9, 0.3, 0.6].iter().map(|p| p.ln()).sum::<f64>() / 6.0;
        assert!((m.log_loss.unwrap() - expected_log_loss).abs() < 1e-12);
        let brier_first = 0.1f64.powi(2) + 0.1f64.powi(2) + 0.2f64.powi(2);
        assert!(m.brier.unwrap() > brier_first / 6.0);
    }

    #[test]
    fn a_class_never_predicted_has_no_precision() {
        let m = Metrics::compute(&[Bullish, Bearish], &[Bullish, Bullish], None);
        assert_eq!(m.per_class[0].precision, None);
        assert_eq!(m.per_class[0].recall, Some(0.0));
        assert_eq!(m.per_class[1].support, 0);
        assert_eq!(m.log_loss, None);
    }
}
