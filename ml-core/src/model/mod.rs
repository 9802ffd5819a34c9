//! The model half of the ML core: a feature frame and labels in, a trained, evaluated,
//! versioned artifact out; an artifact and recent bars in, a forecast out.
//!
//! Training is plain synchronous code that runs on a rayon pool of [`TrainConfig::threads`]
//! threads: callers on an async runtime run it on a blocking thread.
//!
//! 1. [`dataset`]: ready, labelled rows in time order; the oldest `train_fraction` train, the
//!    rest validate, with a purge of `horizon` bars between them.
//! 2. [`forest`] and [`boosting`] fit on the training rows.
//! 3. [`ensemble`] weighs them by ridge regression on the validation rows.
//! 4. Every model, the ensemble and two baselines are scored on validation the same way
//!    ([`metrics`]); the signals are backtested against buy-and-hold ([`backtest`]), the
//!    ensemble's probabilities checked for calibration ([`calibration`]), and the scores
//!    and their composite derived ([`scores`]); optional walk-forward folds repeat 2-4 on
//!    expanding windows.
//! 5. [`artifact`] packs it all.

pub mod artifact;
pub mod backtest;
pub mod boosting;
pub mod calibration;
pub mod consensus;
pub mod dataset;
pub mod ensemble;
pub mod forest;
pub mod live;
pub mod metrics;
mod predict;
mod report;
pub mod scores;
mod settings;
pub mod stats;
mod train;

pub use predict::{Forecast, LastBar, Unforecastable, last_bar, last_bars_of_many, predict, predict_at};
pub use report::{Baselines, Evaluation, FoldReport, ModelReport, Rules, Samples, Verdict, WalkForward};
pub use settings::{LabelThreshold, TrainSettings};
pub use train::{Trained, train};

use serde::{Deserialize, Serialize};

use crate::labels::{LabelConfig, ThresholdRule};
use artifact::ArtifactError;
use backtest::DEFAULT_COST_BPS;
use boosting::BoostingParams;
use ensemble::EnsembleRule;
use forest::ForestParams;

/// 300 rows of two features whose first one is the class: any model must learn it.
#[cfg(test)]
fn separable_rows() -> (Vec<f64>, Vec<crate::labels::Direction>) {
    use crate::labels::Direction;
    let features = (0..300u32).flat_map(|i| [f64::from(i % 3), f64::from(i * 7 % 11)]).collect();
    let labels = (0..300).map(|i| Direction::ALL[i % 3]).collect();
    (features, labels)
}

/// Fewer ready, labelled rows than this cannot give a meaningful split.
pub const MIN_ROWS: usize = 100;

/// Why training or prediction failed. All of these are properties of the input: retrying the
/// same input fails the same way.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot compute features")]
    Features(#[from] polars::error::PolarsError),
    #[error("{rows} ready, labelled rows; at least {needed} are needed to train")]
    NotEnoughRows { rows: usize, needed: usize },
    #[error("the training labels are all {0}; nothing to learn")]
    SingleClass(&'static str),
    #[error("model fit failed: {0}")]
    Fit(String),
    #[error(transparent)]
    Unforecastable(#[from] Unforecastable),
    #[error(
        "the artifact was trained on feature schema {artifact} ({artifact_features} features), this build computes {ours} ({our_features})"
    )]
    SchemaMismatch { artifact: u32, artifact_features: usize, ours: u32, our_features: usize },
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error("cannot start the training thread pool: {0}")]
    Pool(String),
}

impl ModelError {
    /// Model errors come from the data or the artifact, never from the moment.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Everything that decides what a training run produces. Serialised into the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The label rule; under [`ThresholdRule::Balanced`] its threshold is a placeholder and
    /// the manifest's `labels` hold the one chosen.
    pub labels: LabelConfig,
    /// Where the label threshold comes from. Left out of the serialised config when fixed,
    /// so configurations older than the choice keep their hash.
    #[serde(default, skip_serializing_if = "ThresholdRule::is_fixed")]
    pub threshold_rule: ThresholdRule,
    /// Share of the rows, oldest first, that train; the rest validate.
    pub train_fraction: f64,
    /// Expanding walk-forward folds to evaluate on, besides the holdout; `None` for none.
    pub walk_forward_folds: Option<usize>,
    pub forest: ForestParams,
    pub boosting: BoostingParams,
    /// How the two models' predictions make the ensemble's (manifests older than the choice
    /// used the vote).
    #[serde(default)]
    pub ensemble: EnsembleRule,
    /// Ridge penalty of the vote's weights.
    pub ridge_alpha: f64,
    /// Ensemble score beyond which a direction is BULLISH or BEARISH.
    pub score_threshold: f64,
    /// What the backtest charges per unit of turnover, in basis points.
    #[serde(default = "default_cost_bps")]
    pub cost_bps: f64,
    pub seed: u64,
    /// Training threads; 0 for one per core. Not part of the result.
    #[serde(skip)]
    pub threads: usize,
}

/// The cost of manifests written before the backtest existed (never charged there).
fn default_cost_bps() -> f64 {
    DEFAULT_COST_BPS
}

impl TrainConfig {
    /// The original pipeline's settings for a timeframe.
    pub fn for_timeframe(timeframe: crate::Timeframe) -> Self {
        Self {
            labels: LabelConfig::for_timeframe(timeframe),
            threshold_rule: ThresholdRule::Fixed,
            train_fraction: 0.7,
            walk_forward_folds: None,
            forest: ForestParams::default(),
            boosting: BoostingParams::default(),
            ensemble: EnsembleRule::Vote,
            ridge_alpha: 1.0,
            score_threshold: 0.33,
            cost_bps: DEFAULT_COST_BPS,
            seed: 42,
            threads: 0,
        }
    }
}
