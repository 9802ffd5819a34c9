//! Gradient boosting with forust-ml: one binary log-loss booster per class (one-vs-rest), their
//! probabilities normalised to sum to one. See ARCHITECTURE.md for why forust-ml.
//!
//! The three boosters fit side by side on the caller's rayon pool, each with forust's own
//! parallelism inside it: one booster a thread leaves a core idle while the third fits alone,
//! and one booster at a time splits a small matrix's histograms too finely to pay
//! (docs/benchmarks.md).

use std::borrow::Cow;
use std::sync::OnceLock;

use forust_ml::GradientBooster;
use forust_ml::data::Matrix;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ModelError;
use crate::labels::Direction;

/// Boosting hyper-parameters; the defaults are the original pipeline's where forust has the
/// same knob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostingParams {
    pub rounds: usize,
    pub learning_rate: f32,
    pub max_depth: usize,
    /// forust bounds a leaf by its hessian sum, not its row count: with log-loss a row weighs
    /// `p (1 - p)`, at most 0.25, so 1.25 is at least the original's 5 rows per leaf.
    pub min_leaf_weight: f32,
    /// Histogram bins per feature. forust's split search visits every bin of every candidate
    /// feature at every node, however few rows the node holds, so the bins, not the rows,
    /// set a small matrix's cost: 64 bins fit 3,400 rows 3 times faster than 256, with
    /// accuracies within their intervals (docs/benchmarks.md). Configurations older than the
    /// field trained with forust's 256.
    #[serde(default = "forust_bins", skip_serializing_if = "is_forust_bins")]
    pub bins: u16,
    /// Leaves per tree at most, scikit-learn's `HistGradientBoostingClassifier`'s default; `None`
    /// for as many as the depth allows, as configurations older than the field trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_leaves: Option<usize>,
}

/// forust's default bin count, which configurations older than [`BoostingParams::bins`] used.
const FORUST_BINS: u16 = 256;

fn forust_bins() -> u16 {
    FORUST_BINS
}

fn is_forust_bins(bins: &u16) -> bool {
    *bins == FORUST_BINS
}

impl Default for BoostingParams {
    fn default() -> Self {
        Self {
            rounds: 100,
            learning_rate: 0.05,
            max_depth: 7,
            min_leaf_weight: 1.25,
            bins: 64,
            max_leaves: Some(31),
        }
    }
}

/// Three fitted one-vs-rest boosters, in [`Direction::ALL`] order, stored as forust's own
/// JSON (its deserialiser needs a self-describing format). A fitted model holds the boosters
/// and writes their JSON when it is first serialised: a job fits eight models and stores one,
/// and three boosters' JSON is megabytes. A read model holds the JSON and parses it once, on
/// first use: a worker keeps a model to forecast with it again, and parsing is most of a
/// small forecast's work. One of the two is always set.
#[derive(Debug)]
pub struct Boosting {
    json: OnceLock<Vec<String>>,
    boosters: OnceLock<Boosters>,
}

/// Parsed boosters.
struct Boosters(Vec<GradientBooster>);

impl std::fmt::Debug for Boosters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} boosters", self.0.len())
    }
}

/// Column-major copy of row-major features, as forust reads them.
fn column_major(features: &[f64], rows: usize, columns: usize) -> Vec<f64> {
    (0..columns).flat_map(|c| (0..rows).map(move |r| features[r * columns + c])).collect()
}

/// `ln(p / (1 - p))` of the positive share with one pseudo-row of each kind: finite always.
fn smoothed_log_odds(target: &[f64]) -> f64 {
    let positives: f64 = target.iter().sum();
    let share = (positives + 1.0) / (target.len() as f64 + 2.0);
    (share / (1.0 - share)).ln()
}

fn booster_error(error: &forust_ml::errors::ForustError) -> ModelError {
    ModelError::Fit(error.to_string())
}

impl Boosting {
    /// Fits on row-major `features`, the boosters side by side on the caller's rayon pool.
    pub fn fit(
        features: &[f64],
        labels: &[Direction],
        n_features: usize,
        params: &BoostingParams,
        seed: u64,
    ) -> Result<Self, ModelError> {
        let rows = labels.len();
        let data = column_major(features, rows, n_features);
        let matrix = Matrix::new(&data, rows, n_features);
        let weights = vec![1.0; rows];
        let boosters = Direction::ALL
            .into_par_iter()
            .map(|class| {
                let target: Vec<f64> = labels.iter().map(|&l| if l == class { 1.0 } else { 0.0 }).collect();
                let mut booster = GradientBooster::default()
                    // forust would start from the log-odds of the class share, which is
                    // infinite for a class absent from training (a quiet market has no
                    // BEARISH rows): start from the Laplace-smoothed share instead.
                    .set_initialize_base_score(false)
                    .set_base_score(smoothed_log_odds(&target))
                    .set_iterations(params.rounds)
                    .set_learning_rate(params.learning_rate)
                    .set_max_depth(params.max_depth)
                    .set_min_leaf_weight(params.min_leaf_weight)
                    .set_nbins(params.bins)
                    .set_max_leaves(params.max_leaves.unwrap_or(usize::MAX))
                    // Training features are never missing.
                    .set_allow_missing_splits(false)
                    .set_seed(seed)
                    .set_parallel(true);
                booster.fit(&matrix, &target, &weights, None).map_err(|e| booster_error(&e))?;
                Ok::<_, ModelError>(booster)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { json: OnceLock::new(), boosters: OnceLock::from(Boosters(boosters)) })
    }

    /// The boosters, parsed on first use.
    fn boosters(&self) -> Result<&[GradientBooster], ModelError> {
        if let Some(parsed) = self.boosters.get() {
            return Ok(&parsed.0);
        }
        let parsed = self
            .json
            .get()
            .expect("a boosting holds its boosters or their JSON")
            .iter()
            .map(|json| GradientBooster::from_json(json).map_err(|e| booster_error(&e)))
            .collect::<Result<_, _>>()?;
        // A racing thread parsed the same JSON: either result will do.
        Ok(&self.boosters.get_or_init(|| Boosters(parsed)).0)
    }

    /// The boosters' JSON, written on first use.
    fn json(&self) -> Result<&[String], ModelError> {
        if let Some(json) = self.json.get() {
            return Ok(json);
        }
        let json = self
            .boosters
            .get()
            .expect("a boosting holds its boosters or their JSON")
            .0
            .iter()
            .map(|booster| booster.json_dump().map_err(|e| booster_error(&e)))
            .collect::<Result<_, _>>()?;
        Ok(self.json.get_or_init(|| json))
    }

    /// Normalised class probabilities per row of row-major `features`.
    pub fn predict_proba(
        &self,
        features: &[f64],
        rows: usize,
        n_features: usize,
    ) -> Result<Vec<[f64; 3]>, ModelError> {
        let data = column_major(features, rows, n_features);
        let matrix = Matrix::new(&data, rows, n_features);
        let mut probabilities = vec![[0.0; 3]; rows];
        for (class, booster) in self.boosters()?.iter().enumerate() {
            for (row, log_odds) in booster.predict(&matrix, true).into_iter().enumerate() {
                probabilities[row][class] = 1.0 / (1.0 + (-log_odds).exp());
            }
        }
        for p in &mut probabilities {
            let total: f64 = p.iter().sum();
            p.iter_mut().for_each(|v| *v /= total);
        }
        Ok(probabilities)
    }
}

/// The stored form, every artifact format's: each booster's JSON.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Boosting")]
struct Stored<'a> {
    boosters_json: Cow<'a, [String]>,
}

impl Serialize for Boosting {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let json = self.json().map_err(serde::ser::Error::custom)?;
        Stored { boosters_json: Cow::Borrowed(json) }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Boosting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Stored::deserialize(deserializer)?;
        Ok(Self { json: OnceLock::from(stored.boosters_json.into_owned()), boosters: OnceLock::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_older_than_the_bins_read_as_forusts_defaults_and_write_as_they_were() {
        let old = r#"{"rounds":100,"learning_rate":0.05,"max_depth":7,"min_leaf_weight":1.25}"#;
        let params: BoostingParams = serde_json::from_str(old).unwrap();
        assert_eq!((params.bins, params.max_leaves), (256, None));
        assert_eq!(serde_json::to_string(&params).unwrap(), old);
        let new = serde_json::to_string(&BoostingParams::default()).unwrap();
        assert!(new.contains(r#""bins":64,"max_leaves":31"#), "{new}");
    }

    #[test]
    fn column_major_transposes() {
        assert_eq!(column_major(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2), [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn a_class_absent_from_training_gets_a_small_finite_probability() {
        let (features, labels) = crate::model::separable_rows();
        let without_bearish: Vec<Direction> =
            labels.iter().map(|&l| if l == Direction::Bearish { Direction::Neutral } else { l }).collect();
        let params = BoostingParams { rounds: 5, ..BoostingParams::default() };
        let model = Boosting::fit(&features, &without_bearish, 2, &params, 1).unwrap();
        for p in model.predict_proba(&features, labels.len(), 2).unwrap() {
            assert!(p.iter().all(|v| v.is_finite()) && p[0] < 0.2, "{p:?}");
        }
    }

    #[test]
    fn a_stored_boosting_reads_back_as_it_was_written_and_predicts_the_same() {
        let (features, labels) = crate::model::separable_rows();
        let params = BoostingParams { rounds: 10, ..BoostingParams::default() };
        let fitted = Boosting::fit(&features, &labels, 2, &params, 1).unwrap();
        let bytes = postcard::to_allocvec(&fitted).unwrap();
        let read: Boosting = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(postcard::to_allocvec(&read).unwrap(), bytes);
        let predict = |model: &Boosting| model.predict_proba(&features, labels.len(), 2).unwrap();
        assert_eq!(predict(&read), predict(&fitted));
    }

    #[test]
    fn boosters_learn_a_rule_and_probabilities_sum_to_one() {
        let (features, labels) = crate::model::separable_rows();
        let params = BoostingParams { rounds: 20, ..BoostingParams::default() };
        let model = Boosting::fit(&features, &labels, 2, &params, 1).unwrap();
        let probabilities = model.predict_proba(&features, labels.len(), 2).unwrap();
        for (p, label) in probabilities.iter().zip(&labels) {
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(p[label.index()] > 0.5, "{p:?} for {label:?}");
        }
    }
}
