//! The ensemble rule, the original pipeline's: models vote with their encoded labels (BEARISH
//! -1, NEUTRAL 0, BULLISH +1), weighted by a ridge regression fitted on validation; a weighted
//! score above the threshold is BULLISH, below its negative BEARISH, else NEUTRAL.
//!
//! Confidence is where we depart from the original, whose vote share could only be 0, 0.5 or
//! 1: the weighted average of the models' probabilities for the chosen class.

use serde::{Deserialize, Serialize};

use crate::labels::Direction;

/// The most likely class of a probability vector (ties go to the earlier class).
pub fn argmax(probabilities: &[f64; 3]) -> Direction {
    let mut best = 0;
    for i in 1..3 {
        if probabilities[i] > probabilities[best] {
            best = i;
        }
    }
    Direction::ALL[best]
}

/// Weights of the two models: ridge regression (no intercept) of the encoded truth on the
/// models' encoded predictions; negative weights are clipped to 0 and the rest normalised to
/// sum to 1; uniform when nothing is left.
pub fn ridge_weights(truth: &[Direction], predictions: [&[Direction]; 2], alpha: f64) -> [f64; 2] {
    let encode = |d: &Direction| f64::from(d.score());
    let (a, b): (Vec<f64>, Vec<f64>) =
        (predictions[0].iter().map(encode).collect(), predictions[1].iter().map(encode).collect());
    let y: Vec<f64> = truth.iter().map(encode).collect();
    let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(x, y)| x * y).sum::<f64>();
    // (XᵀX + αI) w = Xᵀy for two columns, solved directly.
    let (aa, ab, bb) = (dot(&a, &a) + alpha, dot(&a, &b), dot(&b, &b) + alpha);
    let (ay, by) = (dot(&a, &y), dot(&b, &y));
    let determinant = aa * bb - ab * ab;
    let raw = if determinant.abs() > f64::EPSILON {
        [(bb * ay - ab * by) / determinant, (aa * by - ab * ay) / determinant]
    } else {
        [0.0, 0.0]
    };
    let clipped = raw.map(|w| if w.is_finite() { w.max(0.0) } else { 0.0 });
    let total = clipped[0] + clipped[1];
    if total > 0.0 { clipped.map(|w| w / total) } else { [0.5, 0.5] }
}

/// The ensemble's decision for one row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnsembleVote {
    pub direction: Direction,
    pub score: f64,
    /// Weighted average of the models' class probabilities.
    pub probabilities: [f64; 3],
    /// The ensemble probability of the chosen direction.
    pub confidence: f64,
}

/// Combines the models' probabilities for one row.
pub fn vote(model_probabilities: [&[f64; 3]; 2], weights: [f64; 2], threshold: f64) -> EnsembleVote {
    let score: f64 =
        model_probabilities.iter().zip(weights).map(|(p, w)| w * f64::from(argmax(p).score())).sum();
    let direction = if score > threshold {
        Direction::Bullish
    } else if score < -threshold {
        Direction::Bearish
    } else {
        Direction::Neutral
    };
    let probabilities: [f64; 3] = std::array::from_fn(|i| {
        model_probabilities[0][i] * weights[0] + model_probabilities[1][i] * weights[1]
    });
    EnsembleVote { direction, score, probabilities, confidence: probabilities[direction.index()] }
}

/// How the two models' predictions make the ensemble's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnsembleRule {
    /// The original pipeline's: ridge weights on the models' -1/0/+1 votes, fitted on the
    /// validation rows, and a ±[`TrainConfig::score_threshold`](super::TrainConfig) cut.
    #[default]
    Vote,
    /// A weighted average of the models' class probabilities, the weight fitted by log-loss
    /// on out-of-sample predictions inside the training period: the validation rows never
    /// touch it.
    Proba,
}

impl EnsembleRule {
    pub const ALL: [Self; 2] = [Self::Vote, Self::Proba];

    /// The name on the command line and in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vote => "vote",
            Self::Proba => "proba",
        }
    }
}

impl std::str::FromStr for EnsembleRule {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|rule| rule.as_str() == name)
            .ok_or_else(|| format!("unknown ensemble rule {name:?}; expected vote or proba"))
    }
}

/// Steps of the forest's weight the probability ensemble tries, from 0 to 1.
const WEIGHT_STEPS: u32 = 100;

/// The probability ensemble's weights: the forest's w in 0, 0.01, .., 1 (the boosting's
/// 1 - w) whose blend has the lowest log-loss on `truth`; the first of equals, so the result
/// is deterministic.
pub fn proba_weights(truth: &[Direction], forest: &[[f64; 3]], boosting: &[[f64; 3]]) -> [f64; 2] {
    let log_loss = |w: f64| -> f64 {
        truth
            .iter()
            .zip(forest.iter().zip(boosting))
            .map(|(t, (f, b))| -(w * f[t.index()] + (1.0 - w) * b[t.index()]).clamp(1e-15, 1.0).ln())
            .sum()
    };
    let mut best = (f64::INFINITY, 0.5);
    for step in 0..=WEIGHT_STEPS {
        let w = f64::from(step) / f64::from(WEIGHT_STEPS);
        let loss = log_loss(w);
        if loss < best.0 {
            best = (loss, w);
        }
    }
    [best.1, 1.0 - best.1]
}

/// The probability ensemble's decision for one row: the most probable class of the
/// weighted average, with its probability as the confidence; the score is
/// P(bullish) - P(bearish).
pub fn blend(model_probabilities: [&[f64; 3]; 2], weights: [f64; 2]) -> EnsembleVote {
    let probabilities: [f64; 3] = std::array::from_fn(|i| {
        model_probabilities[0][i] * weights[0] + model_probabilities[1][i] * weights[1]
    });
    let direction = argmax(&probabilities);
    EnsembleVote {
        direction,
        score: probabilities[Direction::Bullish.index()] - probabilities[Direction::Bearish.index()],
        probabilities,
        confidence: probabilities[direction.index()],
    }
}

/// The ensemble's decision for one row under `rule`.
pub(crate) fn decide(
    rule: EnsembleRule,
    probabilities: [&[f64; 3]; 2],
    weights: [f64; 2],
    threshold: f64,
) -> EnsembleVote {
    match rule {
        EnsembleRule::Vote => vote(probabilities, weights, threshold),
        EnsembleRule::Proba => blend(probabilities, weights),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Bearish, Bullish, Neutral};

    #[test]
    fn the_better_model_gets_the_weight() {
        let truth = [Bullish, Bearish, Neutral, Bullish, Bearish, Bullish];
        let good = truth;
        let bad = [Bearish, Bullish, Neutral, Bearish, Bullish, Bearish];
        let weights = ridge_weights(&truth, [&good, &bad], 1.0);
        assert_eq!(weights, [1.0, 0.0], "a negative weight is clipped");
        let weights = ridge_weights(&truth, [&good, &good], 1.0);
        assert!((weights[0] - 0.5).abs() < 1e-12 && (weights[1] - 0.5).abs() < 1e-12);
        let neutral = [Neutral; 6];
        assert_eq!(ridge_weights(&truth, [&neutral, &neutral], 1.0), [0.5, 0.5], "uniform fallback");
    }

    #[test]
    fn votes_follow_the_original_threshold_rule() {
        let bullish = [0.1, 0.2, 0.7];
        let neutral = [0.2, 0.6, 0.2];
        let both = vote([&bullish, &bullish], [0.5, 0.5], 0.33);
        assert_eq!(both.direction, Bullish);
        assert!((both.confidence - 0.7).abs() < 1e-12);
        // One model bullish with weight 0.3: score 0.3 stays under 0.33.
        let split = vote([&bullish, &neutral], [0.3, 0.7], 0.33);
        assert_eq!(split.direction, Neutral);
        assert!((split.confidence - (0.3 * 0.2 + 0.7 * 0.6)).abs() < 1e-12);
        assert_eq!(vote([&bullish, &neutral], [0.4, 0.6], 0.33).direction, Bullish);
        assert_eq!(argmax(&[0.4, 0.4, 0.2]), Bearish);
    }

    #[test]
    fn the_probability_ensemble_weighs_the_model_with_the_better_log_loss() {
        let truth = [Bullish, Bearish, Neutral, Bullish];
        let sharp: Vec<[f64; 3]> =
            truth.iter().map(|t| std::array::from_fn(|i| if i == t.index() { 0.8 } else { 0.1 })).collect();
        let flat = vec![[1.0 / 3.0; 3]; 4];
        assert_eq!(proba_weights(&truth, &sharp, &flat), [1.0, 0.0]);
        assert_eq!(proba_weights(&truth, &flat, &sharp), [0.0, 1.0]);
        let blended = blend([&[0.2, 0.3, 0.5], &[0.6, 0.3, 0.1]], [0.5, 0.5]);
        assert_eq!(blended.direction, Bearish, "0.4 bearish beats 0.3 both other ways");
        assert!((blended.confidence - 0.4).abs() < 1e-12 && (blended.score + 0.1).abs() < 1e-12);
    }
}
