//! A forecast from a trained model and recent bars.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::artifact::Model;
use super::ensemble::argmax;
use crate::bar::Bar;
use crate::features::{self, FEATURE_SCHEMA_VERSION, READY_COLUMN, TRAINING_WARM_UP, training_features};
use crate::labels::Direction;

use super::ModelError;
use super::ensemble::decide;
use polars::prelude::DataFrame;

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

/// Why a series cannot be forecast at its last bar.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unforecastable {
    #[error("{bars} bars; at least {needed} are needed to predict")]
    NotEnoughBars { bars: usize, needed: usize },
    #[error("the features of the last bar ({ts}) are not all finite")]
    NotReady { ts: DateTime<Utc> },
}

/// What a forecast predicts from: the training features at a series' last bar.
#[derive(Debug, Clone, PartialEq)]
pub struct LastBar {
    pub ts: DateTime<Utc>,
    /// In [`training_features`] order.
    pub features: Vec<f64>,
}

/// The forecast at the last bar of `bars` (ascending, the same symbol and timeframe the model
/// was trained on).
pub fn predict(model: &Model, bars: &[Bar]) -> Result<Forecast, ModelError> {
    check_schema(model)?;
    predict_at(model, &last_bar(bars)?)
}

/// The last bar of one series.
pub fn last_bar(bars: &[Bar]) -> Result<LastBar, ModelError> {
    let mut last = last_bars(&features::compute(bars)?, &[bars])?;
    Ok(last.pop().unwrap_or_else(|| unreachable!("one series, one last bar"))?)
}

/// The last bar of each of many series, their features computed at once
/// ([`features::compute_many`]): a forecast run's snapshot file.
pub fn last_bars_of_many(series: &[&[Bar]]) -> Result<Vec<Result<LastBar, Unforecastable>>, ModelError> {
    last_bars(&features::compute_many(series)?, series)
}

/// The forecast from the features at a series' last bar.
pub fn predict_at(model: &Model, last: &LastBar) -> Result<Forecast, ModelError> {
    check_schema(model)?;
    let row = &last.features;
    let forest_p = model.forest.predict_proba(row, row.len())[0];
    let boosting_p = model.boosting.predict_proba(row, 1, row.len())?[0];
    let decision = decide(model.ensemble, [&forest_p, &boosting_p], model.weights, model.score_threshold);
    Ok(Forecast {
        bar_ts: last.ts,
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

fn check_schema(model: &Model) -> Result<(), ModelError> {
    let ours: Vec<&str> = training_features().collect();
    if model.feature_schema_version != FEATURE_SCHEMA_VERSION || model.feature_names != ours {
        return Err(ModelError::SchemaMismatch {
            artifact: model.feature_schema_version,
            artifact_features: model.feature_names.len(),
            ours: FEATURE_SCHEMA_VERSION,
            our_features: ours.len(),
        });
    }
    Ok(())
}

/// Each series' last bar in `frame`, the features of `series` one after another.
fn last_bars(
    frame: &DataFrame,
    series: &[&[Bar]],
) -> Result<Vec<Result<LastBar, Unforecastable>>, ModelError> {
    let columns = training_features()
        .map(|name| Ok(frame.column(name)?.f64()?.clone()))
        .collect::<Result<Vec<_>, ModelError>>()?;
    let ready = frame.column(READY_COLUMN)?.bool()?;
    let mut end = 0;
    Ok(series
        .iter()
        .map(|bars| {
            end += bars.len();
            if bars.len() <= TRAINING_WARM_UP {
                return Err(Unforecastable::NotEnoughBars { bars: bars.len(), needed: TRAINING_WARM_UP + 1 });
            }
            let (row, ts) = (end - 1, bars[bars.len() - 1].ts);
            if ready.get(row) != Some(true) {
                return Err(Unforecastable::NotReady { ts });
            }
            let features = columns.iter().map(|column| column.get(row).unwrap_or(f64::NAN)).collect();
            Ok(LastBar { ts, features })
        })
        .collect())
}
