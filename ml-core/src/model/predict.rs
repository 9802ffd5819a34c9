//! A forecast from a trained model and recent bars.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::artifact::Model;
use super::ensemble::argmax;
use crate::bar::Bar;
use crate::features::{FEATURE_SCHEMA_VERSION, TRAINING_WARM_UP, training_features};
use crate::labels::Direction;

use super::ensemble::decide;
use super::{ModelError, dataset};

/// A forecast for the bar after the last one given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// The last bar the forecast is made at; it looks `horizon` bars past it.
    pub bar_ts: DateTime<Utc>,
    pub horizon: usize,
    /// The label rule's threshold, to score the forecast once its horizon has passed
    /// (`None` from workers older than the field).
    #[serde(default)]
    pub threshold: Option<f64>,
    pub direction: Direction,
    pub confidence: f64,
    /// Ensemble probabilities in [`Direction::ALL`] order.
    pub probabilities: [f64; 3],
    pub score: f64,
    pub random_forest: Direction,
    pub gradient_boosting: Direction,
    pub weights: [f64; 2],
}

/// The forecast at the last bar of `bars` (ascending, the same symbol and timeframe the model
/// was trained on).
pub fn predict(model: &Model, bars: &[Bar]) -> Result<Forecast, ModelError> {
    let ours: Vec<&str> = training_features().collect();
    if model.feature_schema_version != FEATURE_SCHEMA_VERSION || model.feature_names != ours {
        return Err(ModelError::SchemaMismatch {
            artifact: model.feature_schema_version,
            artifact_features: model.feature_names.len(),
            ours: FEATURE_SCHEMA_VERSION,
            our_features: ours.len(),
        });
    }
    let Some(last) = bars.len().checked_sub(1).filter(|&last| last >= TRAINING_WARM_UP) else {
        return Err(ModelError::NotEnoughBars { bars: bars.len(), needed: TRAINING_WARM_UP + 1 });
    };
    let (columns, ready) = dataset::feature_rows(bars, &ours)?;
    if !ready[last] {
        return Err(ModelError::NotReady { ts: bars[last].ts });
    }
    let row: Vec<f64> = columns.iter().map(|c| c[last]).collect();
    let forest_p = model.forest.predict_proba(&row, row.len())[0];
    let boosting_p = model.boosting.predict_proba(&row, 1, row.len())?[0];
    let decision = decide(model.ensemble, [&forest_p, &boosting_p], model.weights, model.score_threshold);
    Ok(Forecast {
        bar_ts: bars[last].ts,
        horizon: model.labels.horizon,
        threshold: Some(model.labels.threshold),
        direction: decision.direction,
        confidence: decision.confidence,
        probabilities: decision.probabilities,
        score: decision.score,
        random_forest: argmax(&forest_p),
        gradient_boosting: argmax(&boosting_p),
        weights: model.weights,
    })
}
