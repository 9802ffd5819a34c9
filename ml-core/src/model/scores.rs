//! A model's three scores (backtest, walk-forward, live), the composite confidence the
//! original pipeline showed (weights 0.40 / 0.35 / 0.25) and its drift flag.
//!
//! A score is the accuracy skill over the majority baseline, clipped to [0, 1]:
//! `max(0, (accuracy - majority) / (1 - majority))`. It is 0 for a model that only matches
//! the baseline (however high that baseline is: 91 % NEUTRAL labels give a 0, not a 0.91),
//! 1 for a perfect one, and comparable across pairs whose class balance differs.

use serde::{Deserialize, Serialize};

use super::metrics::Proportion;

/// One score beside what it is made of.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The skill over the majority baseline, in [0, 1].
    pub value: f64,
    pub accuracy: Proportion,
    /// The majority baseline's accuracy on the same rows.
    pub majority: f64,
}

impl Score {
    pub fn skill(accuracy: Proportion, majority: f64) -> Self {
        let value = if majority >= 1.0 {
            0.0
        } else {
            ((accuracy.value - majority) / (1.0 - majority)).clamp(0.0, 1.0)
        };
        Self { value, accuracy, majority }
    }
}

/// The weights of the composite, and the drift flag's limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CompositeRule {
    pub backtest: f64,
    pub walk_forward: f64,
    pub live: f64,
    /// The flag is raised when the live score is further than this from the backtest's.
    pub drift_gap: f64,
}

impl Default for CompositeRule {
    /// The original pipeline's.
    fn default() -> Self {
        Self { backtest: 0.40, walk_forward: 0.35, live: 0.25, drift_gap: 0.15 }
    }
}

impl CompositeRule {
    /// The weights of the backtest, walk-forward and live scores, in that order.
    pub fn weights(&self) -> [f64; 3] {
        [self.backtest, self.walk_forward, self.live]
    }

    /// A rule from three weights (backtest, walk-forward, live), finite and not negative,
    /// the backtest's above 0 (the one score every model has).
    pub fn from_weights(weights: &[f64], drift_gap: f64) -> Result<Self, String> {
        let [backtest, walk_forward, live] = weights[..] else {
            return Err("the composite takes three weights: backtest, walk-forward, live".to_owned());
        };
        if !([backtest, walk_forward, live].iter().all(|w| w.is_finite() && *w >= 0.0) && backtest > 0.0) {
            return Err(
                "the composite's weights must be finite and not negative, the backtest's above 0".to_owned()
            );
        }
        Ok(Self { backtest, walk_forward, live, drift_gap })
    }
}

/// The scores of one model: the holdout always, the others when there is enough to say.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub backtest: Score,
    /// `None` when walk-forward was off.
    pub walk_forward: Option<Score>,
    /// `None` until enough live forecasts are scored.
    pub live: Option<Score>,
}

/// The composite confidence and the drift flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Composite {
    /// The weighted mean of the scores there are, weights renormalised over them.
    pub value: f64,
    /// Which scores it is made of, and which are missing (never filled in).
    pub included: Vec<String>,
    pub missing: Vec<String>,
    /// `|live - backtest| > drift_gap`; `None` without a live score.
    pub drift: Option<bool>,
}

impl Scores {
    pub fn composite(&self, rule: &CompositeRule) -> Composite {
        let parts = [
            ("backtest", Some(self.backtest), rule.backtest),
            ("walk_forward", self.walk_forward, rule.walk_forward),
            ("live", self.live, rule.live),
        ];
        let (mut weighted, mut weight) = (0.0, 0.0);
        let (mut included, mut missing) = (Vec::new(), Vec::new());
        for (name, score, w) in parts {
            match score {
                Some(score) => {
                    weighted += w * score.value;
                    weight += w;
                    included.push(name.to_owned());
                }
                None => missing.push(name.to_owned()),
            }
        }
        Composite {
            value: if weight > 0.0 { weighted / weight } else { 0.0 },
            included,
            missing,
            drift: self.live.map(|live| (live.value - self.backtest.value).abs() > rule.drift_gap + 1e-9),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(successes: usize, n: usize, majority: f64) -> Score {
        Score::skill(Proportion::wilson(successes, n), majority)
    }

    #[test]
    fn a_score_is_zero_for_a_model_that_only_matches_its_baseline() {
        assert_eq!(score(91, 100, 0.91).value, 0.0, "91 % NEUTRAL labels, always NEUTRAL");
        assert_eq!(score(80, 100, 0.91).value, 0.0, "worse than the baseline is clipped");
        assert!((score(70, 100, 0.4).value - 0.5).abs() < 1e-12, "half the way from 40 % to 100 %");
        assert_eq!(score(100, 100, 0.4).value, 1.0);
    }

    #[test]
    fn the_composite_uses_the_original_weights_and_says_what_is_missing() {
        let rule = CompositeRule::default();
        let full = Scores {
            backtest: score(70, 100, 0.4),
            walk_forward: Some(score(55, 100, 0.4)),
            live: Some(score(40, 100, 0.4)),
        };
        let composite = full.composite(&rule);
        assert!((composite.value - (0.40 * 0.5 + 0.35 * 0.25)).abs() < 1e-12, "{}", composite.value);
        assert_eq!(composite.drift, Some(true), "live 0 is 0.5 away from the backtest's 0.5");
        let without_live = Scores { live: None, ..full }.composite(&rule);
        assert!((without_live.value - (0.40 * 0.5 + 0.35 * 0.25) / 0.75).abs() < 1e-12);
        assert_eq!(without_live.missing, ["live"]);
        assert_eq!(without_live.drift, None, "no live score, no flag");
        let close = Scores { live: Some(score(61, 100, 0.4)), ..full }.composite(&rule);
        assert_eq!(close.drift, Some(false), "0.35 is within 0.15 of 0.5");
    }
}
