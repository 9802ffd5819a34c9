//! The Random Forest: smartcore trees, grown in parallel, with class probabilities.
//!
//! smartcore's forest grows its trees one after another and only predicts the majority vote.
//! We grow each tree as a one-tree smartcore forest (its bootstrap and its random feature subset
//! per split intact) on a rayon pool, and keep the trees: the share of trees voting for a class
//! is its probability.
//!
//! Balanced class weights (scikit-learn's `class_weight="balanced"`, which the original used)
//! become replication: rows of rarer classes are repeated until every class has as many rows as
//! the commonest one, and each tree then bootstraps from that. In expectation every class
//! weighs the same, which is what balanced weights do.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::SplitCriterion;

use super::ModelError;
use crate::labels::Direction;

/// Random Forest hyper-parameters; the defaults are the original pipeline's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    pub trees: u16,
    pub max_depth: u16,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    /// Balance the classes by replication (see the module docs).
    pub balanced: bool,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self { trees: 200, max_depth: 15, min_samples_split: 10, min_samples_leaf: 5, balanced: true }
    }
}

type Tree = RandomForestClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>;

/// A fitted forest.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forest {
    trees: Vec<Tree>,
}

/// Row-major rows as smartcore's matrix.
pub(super) fn dense(features: &[f64], rows: usize, columns: usize) -> Result<DenseMatrix<f64>, ModelError> {
    DenseMatrix::new(rows, columns, features.to_vec(), false).map_err(|e| ModelError::Fit(e.to_string()))
}

/// Row indices with every class repeated up to the commonest class's count. The extra copies
/// of a class are spread evenly over its rows, so the result is deterministic.
fn balanced_rows(labels: &[Direction]) -> Vec<usize> {
    let by_class: Vec<Vec<usize>> = Direction::ALL
        .into_iter()
        .map(|class| (0..labels.len()).filter(|&i| labels[i] == class).collect())
        .collect();
    let target = by_class.iter().map(Vec::len).max().unwrap_or(0);
    let mut rows = Vec::with_capacity(target * 3);
    for members in by_class.iter().filter(|m| !m.is_empty()) {
        let (whole, extra) = (target / members.len(), target % members.len());
        for _ in 0..whole {
            rows.extend(members);
        }
        rows.extend((0..extra).map(|k| members[k * members.len() / extra]));
    }
    rows
}

impl Forest {
    /// Fits on row-major `features`; runs on the caller's rayon pool.
    pub fn fit(
        features: &[f64],
        labels: &[Direction],
        n_features: usize,
        params: &ForestParams,
        seed: u64,
    ) -> Result<Self, ModelError> {
        let rows: Vec<usize> =
            if params.balanced { balanced_rows(labels) } else { (0..labels.len()).collect() };
        let x: Vec<f64> = rows
            .iter()
            .flat_map(|&r| features[r * n_features..(r + 1) * n_features].iter().copied())
            .collect();
        let y: Vec<u32> = rows.iter().map(|&r| class_id(labels[r])).collect();
        let x = dense(&x, rows.len(), n_features)?;
        let trees = (0..params.trees)
            .into_par_iter()
            .map(|tree| {
                let tree_params = RandomForestClassifierParameters {
                    criterion: SplitCriterion::Gini,
                    max_depth: Some(params.max_depth),
                    min_samples_leaf: params.min_samples_leaf,
                    min_samples_split: params.min_samples_split,
                    n_trees: 1,
                    m: None,
                    keep_samples: false,
                    seed: seed.wrapping_add(u64::from(tree)),
                };
                Tree::fit(&x, &y, tree_params).map_err(|e| ModelError::Fit(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { trees })
    }

    /// The share of trees voting for each class, per row.
    pub fn predict_proba(&self, x: &DenseMatrix<f64>, rows: usize) -> Result<Vec<[f64; 3]>, ModelError> {
        let votes = self
            .trees
            .par_iter()
            .map(|tree| tree.predict(x).map_err(|e| ModelError::Fit(e.to_string())))
            .collect::<Result<Vec<Vec<u32>>, _>>()?;
        #[expect(clippy::cast_precision_loss, reason = "a few hundred trees")]
        let share = 1.0 / self.trees.len() as f64;
        let mut probabilities = vec![[0.0; 3]; rows];
        for tree_votes in &votes {
            for (row, &class) in tree_votes.iter().enumerate() {
                probabilities[row][class as usize] += share;
            }
        }
        Ok(probabilities)
    }
}

fn class_id(direction: Direction) -> u32 {
    u32::try_from(direction.index()).expect("three classes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Bearish, Bullish, Neutral};

    #[test]
    fn balancing_repeats_rarer_classes_up_to_the_commonest() {
        let labels = [Neutral, Neutral, Neutral, Neutral, Neutral, Bullish, Bullish, Bearish];
        let rows = balanced_rows(&labels);
        let count = |class| rows.iter().filter(|&&r| labels[r] == class).count();
        assert_eq!((count(Bearish), count(Neutral), count(Bullish)), (5, 5, 5));
        assert_eq!(balanced_rows(&labels), rows, "deterministic");
        assert!(balanced_rows(&[]).is_empty());
    }

    #[test]
    fn a_forest_learns_a_separable_rule_and_its_probabilities_sum_to_one() {
        let (features, labels) = crate::model::separable_rows();
        let params = ForestParams { trees: 20, ..ForestParams::default() };
        let forest = Forest::fit(&features, &labels, 2, &params, 7).unwrap();
        let x = dense(&features, labels.len(), 2).unwrap();
        let probabilities = forest.predict_proba(&x, labels.len()).unwrap();
        for (p, label) in probabilities.iter().zip(&labels) {
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(p[label.index()] > 0.5, "{p:?} for {label:?}");
        }
    }
}
