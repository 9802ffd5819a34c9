//! What a training run reports: each model's validation metrics beside the baselines', the
//! verdict, the walk-forward folds, and the evaluation that holds them all (the manifest's,
//! the results tables').

use serde::{Deserialize, Serialize};

use super::backtest::Backtest;
use super::calibration::Calibration;
use super::ensemble::EnsembleRule;
use super::metrics::{Metrics, Proportion};
use super::scores::{Composite, Scores};
use crate::labels::{Direction, LabelConfig, ThresholdRule};

/// One model's scores: validation metrics, and the train accuracy to see overfitting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    pub validation: Metrics,
    pub train_accuracy: Proportion,
    /// Train accuracy minus validation accuracy.
    pub overfit_margin: f64,
}

/// What a model has to beat, scored like the models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    /// The commonest training label, predicted for every row.
    pub majority_class: Direction,
    pub majority: Metrics,
    /// The label of the last completed `horizon`-bar return.
    pub persistence: Metrics,
}

/// Row counts behind the numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    pub bars: usize,
    /// Rows past the warm-up, with finite features and a label.
    pub usable_rows: usize,
    pub train_rows: usize,
    pub purged_rows: usize,
    pub validation_rows: usize,
    /// Class counts in [`Direction::ALL`] order.
    pub train_classes: [usize; 3],
    pub validation_classes: [usize; 3],
}

/// Whether the ensemble's validation accuracy lies above each baseline's 95 % interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub beats_majority: bool,
    pub beats_persistence: bool,
    pub summary: String,
}

/// One walk-forward fold, or all folds' validation rows pooled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldReport {
    /// 0 for the pooled report.
    pub train_rows: usize,
    /// The label threshold of the fold's rows (`None` for the pooled report, whose folds
    /// may each have chosen another, and in manifests older than the field).
    #[serde(default)]
    pub threshold: Option<f64>,
    pub validation_rows: usize,
    /// `None` for the pooled report, whose rows come from models with different weights.
    pub weights: Option<[f64; 2]>,
    pub random_forest: Metrics,
    pub gradient_boosting: Metrics,
    pub ensemble: Metrics,
    pub majority: Metrics,
    pub persistence: Metrics,
    /// The ensemble's and the baselines' signals traded on the validation rows (absent from
    /// manifests older than the backtest).
    #[serde(default)]
    pub backtest: Option<Backtest>,
}

/// Walk-forward folds and their validation rows pooled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalkForward {
    pub folds: Vec<FoldReport>,
    pub pooled: FoldReport,
}

/// The whole evaluation of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub random_forest: ModelReport,
    pub gradient_boosting: ModelReport,
    pub ensemble: ModelReport,
    pub baselines: Baselines,
    pub weights: [f64; 2],
    pub samples: Samples,
    pub verdict: Verdict,
    pub walk_forward: Option<WalkForward>,
    /// The holdout's signals traded, against buy-and-hold and the baselines. This and the
    /// fields below are absent from manifests older than them.
    #[serde(default)]
    pub backtest: Option<Backtest>,
    /// Whether the ensemble's validation probabilities can be believed.
    #[serde(default)]
    pub calibration: Option<Calibration>,
    /// Skill over the majority baseline: holdout (backtest) and pooled walk-forward; the
    /// live score comes later, from realised forecasts.
    #[serde(default)]
    pub scores: Option<Scores>,
    /// The scores' composite with the original's weights, over the scores there are.
    #[serde(default)]
    pub composite: Option<Composite>,
    /// The rules the numbers were made under.
    #[serde(default)]
    pub rules: Option<Rules>,
}

/// How the labels and the ensemble's decisions were made, for readers of an evaluation
/// without its manifest (the results tables).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// The holdout's label rule, with the threshold chosen under `auto`.
    pub labels: LabelConfig,
    pub threshold_rule: ThresholdRule,
    pub ensemble: EnsembleRule,
}

pub(super) fn verdict(ensemble: &Proportion, majority: &Proportion, persistence: &Proportion) -> Verdict {
    let beats = |baseline: &Proportion| ensemble.value > baseline.high;
    let describe = |name: &str, baseline: &Proportion| {
        format!(
            "{} {name} {:.3} [{:.3}, {:.3}]",
            if beats(baseline) { "beats" } else { "does not beat" },
            baseline.value,
            baseline.low,
            baseline.high
        )
    };
    Verdict {
        beats_majority: beats(majority),
        beats_persistence: beats(persistence),
        summary: format!(
            "ensemble accuracy {:.3} [{:.3}, {:.3}] on {} validation rows {} and {} beyond their 95 % intervals",
            ensemble.value,
            ensemble.low,
            ensemble.high,
            ensemble.n,
            describe("majority", majority),
            describe("persistence", persistence),
        ),
    }
}

pub(super) fn model_report(validation: Metrics, train: &Metrics) -> ModelReport {
    ModelReport {
        overfit_margin: train.accuracy.value - validation.accuracy.value,
        train_accuracy: train.accuracy,
        validation,
    }
}
