//! The training settings a person chooses for a fleet ([`TrainSettings`]), and how they make
//! each pair's [`TrainConfig`]. The fleet's defaults are written once, in its `Default`:
//! the `proba` ensemble and three walk-forward folds (chosen by measurement, docs/metrics.md),
//! over the model parameters of [`TrainConfig::for_timeframe`], the bare base that older
//! manifests (the vote, no folds) were trained on.

use crate::Timeframe;
use crate::labels::ThresholdRule;
use crate::model::TrainConfig;
use crate::model::ensemble::EnsembleRule;

/// The knobs of `train`, `train-file`, `evaluate`'s retraining and the scheduler. Unset label
/// settings take each timeframe's.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSettings {
    /// Expanding, purged walk-forward folds to evaluate on besides the holdout (0: none).
    pub walk_forward: usize,
    pub ensemble: EnsembleRule,
    /// What the backtest of the signal charges per unit of turnover, in basis points.
    pub cost_bps: f64,
    /// Bars ahead for the label (`None`: the timeframe's).
    pub horizon: Option<usize>,
    /// The label threshold (`None`: the timeframe's).
    pub threshold: Option<LabelThreshold>,
    /// Share of the rows, oldest first, that train (between 0 and 1).
    pub train_fraction: f64,
    /// Random Forest trees and maximum depth.
    pub trees: u16,
    pub max_depth: u16,
    /// Gradient-boosting rounds per class, and learning rate.
    pub rounds: usize,
    pub learning_rate: f32,
    /// Seed of every random choice in training.
    pub seed: u64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        let base = TrainConfig::for_timeframe(Timeframe::D1);
        Self {
            walk_forward: 3,
            ensemble: EnsembleRule::Proba,
            cost_bps: base.cost_bps,
            horizon: None,
            threshold: None,
            train_fraction: base.train_fraction,
            trees: base.forest.trees,
            max_depth: base.forest.max_depth,
            rounds: base.boosting.rounds,
            learning_rate: base.boosting.learning_rate,
            seed: base.seed,
        }
    }
}

impl TrainSettings {
    /// The configuration of a pair of `timeframe` (threads left at "one per core").
    pub fn config_for(&self, timeframe: Timeframe) -> TrainConfig {
        let mut config = TrainConfig::for_timeframe(timeframe);
        config.labels.horizon = self.horizon.unwrap_or(config.labels.horizon);
        match self.threshold {
            Some(LabelThreshold::Fixed(threshold)) => config.labels.threshold = threshold,
            Some(LabelThreshold::Auto) => config.threshold_rule = ThresholdRule::Balanced,
            None => {}
        }
        config.train_fraction = self.train_fraction;
        config.walk_forward_folds = (self.walk_forward > 0).then_some(self.walk_forward);
        config.cost_bps = self.cost_bps;
        config.ensemble = self.ensemble;
        config.forest.trees = self.trees;
        config.forest.max_depth = self.max_depth;
        config.boosting.rounds = self.rounds;
        config.boosting.learning_rate = self.learning_rate;
        config.seed = self.seed;
        config
    }
}

/// A label threshold: a return, or `auto` (chosen on the training rows so that a third of
/// them are NEUTRAL).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LabelThreshold {
    Fixed(f64),
    Auto,
}

impl std::str::FromStr for LabelThreshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "auto" {
            return Ok(Self::Auto);
        }
        match text.parse::<f64>() {
            Ok(threshold) if threshold.is_finite() && threshold >= 0.0 => Ok(Self::Fixed(threshold)),
            _ => Err(format!("{text:?} is neither a return of 0 or more (e.g. 0.009) nor auto")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_defaults_are_the_measured_ones_over_the_bare_base() {
        let config = TrainSettings::default().config_for(Timeframe::H1);
        let base = TrainConfig::for_timeframe(Timeframe::H1);
        assert_eq!(config.ensemble, EnsembleRule::Proba, "chosen by measurement: docs/metrics.md");
        assert_eq!(config.walk_forward_folds, Some(3));
        assert_eq!(TrainConfig { ensemble: base.ensemble, walk_forward_folds: None, ..config }, base);
    }

    #[test]
    fn a_threshold_is_a_return_or_auto() {
        assert_eq!("auto".parse(), Ok(LabelThreshold::Auto));
        assert_eq!("0.004".parse(), Ok(LabelThreshold::Fixed(0.004)));
        assert!("-0.1".parse::<LabelThreshold>().unwrap_err().contains("nor auto"));
        let auto = TrainSettings { threshold: Some(LabelThreshold::Auto), ..TrainSettings::default() };
        assert_eq!(auto.config_for(Timeframe::H1).threshold_rule, ThresholdRule::Balanced);
    }
}
