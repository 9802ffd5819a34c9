//! The Random Forest: scikit-learn's, grown by our own engine ([`grow`]) on a rayon pool, with
//! class probabilities.
//!
//! Formats 1 and 2 grew each tree as a one-tree smartcore forest. smartcore's split search
//! walks every training row at every node, so a tree cost `O(rows x nodes)` and the forest
//! three times scikit-learn's fit; [`grow`] searches splits over histogram bins of each node's
//! rows, and weighs bootstrapped rows by their counts and class weights where smartcore took
//! copies. smartcore stays the reference the engine is held to (`tests/forest_reference.rs`:
//! same rows, accuracies within noise) and is read for old artifacts ([`legacy`]).
//!
//! A fitted tree is kept as [`Node`]s in preorder, 16 bytes each: the trees of a job are most
//! of its memory, and of an artifact's bytes. The share of trees voting for a class is its
//! probability.
//!
//! Balanced class weights are scikit-learn's `class_weight="balanced"`, which the original
//! used: a row of class `c` weighs `rows / (classes x rows of c)`.

mod grow;
mod legacy;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ModelError;
use crate::labels::Direction;
pub(super) use legacy::LegacyForest;
#[cfg(test)]
pub(super) use legacy::smartcore_trees;

/// Random Forest hyper-parameters; the defaults are the original pipeline's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    pub trees: u16,
    pub max_depth: u16,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    /// Balance the classes by weight (see the module docs).
    pub balanced: bool,
}

impl Default for ForestParams {
    fn default() -> Self {
        Self { trees: 200, max_depth: 15, min_samples_split: 10, min_samples_leaf: 5, balanced: true }
    }
}

/// A fitted forest: each tree's nodes in preorder.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    trees: Vec<Vec<Node>>,
}

/// `Node::feature` of a leaf.
const LEAF: u32 = u32::MAX;

/// A split or a leaf. A split sends a row whose feature is at most `threshold` to the next
/// node and any other (a NaN too, as smartcore's comparison does) to `other`; a leaf's `other` is its class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Node {
    feature: u32,
    threshold: f64,
    other: u32,
}

/// The class `tree` gives `row`.
fn class_of(tree: &[Node], row: &[f64]) -> usize {
    let mut at = 0;
    loop {
        let node = tree[at];
        if node.feature == LEAF {
            return node.other as usize;
        }
        at = if row[node.feature as usize] <= node.threshold { at + 1 } else { node.other as usize };
    }
}

impl Forest {
    /// Fits on row-major `features`; runs on the caller's rayon pool. Tree `t` depends on
    /// the rows, the parameters, `seed` and `t` alone: the forest is the same at any thread
    /// count.
    pub fn fit(
        features: &[f64],
        labels: &[Direction],
        n_features: usize,
        params: &ForestParams,
        seed: u64,
    ) -> Result<Self, ModelError> {
        let rows = labels.len();
        if rows == 0 || features.len() != rows * n_features {
            return Err(ModelError::Fit(format!(
                "the forest needs rows of {n_features} features: {} values for {rows} labels",
                features.len()
            )));
        }
        if u32::try_from(rows).is_err() || u32::try_from(n_features).is_err() {
            return Err(ModelError::Fit(format!(
                "{rows} rows of {n_features} features exceed the forest's u32 indices"
            )));
        }
        let binned = grow::Binned::new(features, rows, n_features);
        let classes = labels.iter().map(|&label| class_id(label)).collect();
        let grower = grow::Grower::new(&binned, classes, params);
        let trees = (0..params.trees).into_par_iter().map(|tree| grower.grow(seed, tree)).collect();
        Ok(Self { trees })
    }

    /// The share of trees voting for each class, for each of the row-major `features`' rows;
    /// blocks of rows in parallel on the caller's rayon pool, each row's votes summed in tree
    /// order. A block is walked one tree at a time, so that the tree stays in cache: a
    /// forest's nodes are megabytes, and walking all of them for each row in turn read most
    /// nodes from memory.
    pub fn predict_proba(&self, features: &[f64], n_features: usize) -> Vec<[f64; 3]> {
        /// Rows of a block: their features and a tree fit a core's cache together.
        const BLOCK_ROWS: usize = 128;
        #[expect(clippy::cast_precision_loss, reason = "a few hundred trees")]
        let share = 1.0 / self.trees.len() as f64;
        let width = n_features.max(1);
        let mut probabilities = vec![[0.0; 3]; features.len() / width];
        probabilities.par_chunks_mut(BLOCK_ROWS).zip(features.par_chunks(BLOCK_ROWS * width)).for_each(
            |(block, rows)| {
                for tree in &self.trees {
                    for (row_probabilities, row) in block.iter_mut().zip(rows.chunks(width)) {
                        row_probabilities[class_of(tree, row)] += share;
                    }
                }
            },
        );
        probabilities
    }
}

fn class_id(direction: Direction) -> u32 {
    u32::try_from(direction.index()).expect("three classes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forest_learns_a_separable_rule_and_its_probabilities_sum_to_one() {
        let (features, labels) = crate::model::separable_rows();
        let params = ForestParams { trees: 20, ..ForestParams::default() };
        let forest = Forest::fit(&features, &labels, 2, &params, 7).unwrap();
        let probabilities = forest.predict_proba(&features, 2);
        for (p, label) in probabilities.iter().zip(&labels) {
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(p[label.index()] > 0.5, "{p:?} for {label:?}");
        }
    }

    /// Noisy rows with a rare class, on three features.
    fn rare_class_rows() -> (Vec<f64>, Vec<Direction>) {
        let features = (0..1_500u32)
            .flat_map(|i| [f64::from(i % 17), f64::from(i * 7 % 23), f64::from(i * 13 % 31)])
            .collect();
        let labels = (0..1_500u32)
            .map(|i| match (i * 31 + i / 5) % 10 {
                0 => Direction::Bearish,
                1..=5 => Direction::Neutral,
                _ => Direction::Bullish,
            })
            .collect();
        (features, labels)
    }

    #[test]
    fn the_same_rows_and_seed_give_the_same_forest_at_any_thread_count() {
        let (features, labels) = rare_class_rows();
        let params = ForestParams { trees: 12, ..ForestParams::default() };
        let fit = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let forest = pool.install(|| Forest::fit(&features, &labels, 3, &params, 9)).unwrap();
            postcard::to_allocvec(&forest).unwrap()
        };
        assert_eq!(fit(1), fit(2));
        assert_eq!(fit(1), fit(3));
        let other_seed = Forest::fit(&features, &labels, 3, &params, 10).unwrap();
        assert_ne!(fit(1), postcard::to_allocvec(&other_seed).unwrap());
    }

    #[test]
    fn a_row_gets_the_same_probabilities_alone_as_in_a_block_of_rows() {
        let (features, labels) = rare_class_rows();
        let params = ForestParams { trees: 15, ..ForestParams::default() };
        let forest = Forest::fit(&features, &labels, 3, &params, 4).unwrap();
        let together = forest.predict_proba(&features, 3);
        assert_eq!(together.len(), labels.len());
        for (row, probabilities) in features.chunks(3).zip(&together) {
            assert_eq!(forest.predict_proba(row, 3), [*probabilities]);
        }
    }

    #[test]
    fn balanced_weights_give_a_rare_class_its_share_of_the_votes() {
        let (features, labels) = rare_class_rows();
        let votes_for_bearish = |balanced| {
            let params = ForestParams { trees: 30, balanced, ..ForestParams::default() };
            let forest = Forest::fit(&features, &labels, 3, &params, 1).unwrap();
            forest.predict_proba(&features, 3).iter().map(|p| p[Direction::Bearish.index()]).sum::<f64>()
        };
        let (unbalanced, balanced) = (votes_for_bearish(false), votes_for_bearish(true));
        assert!(balanced > 1.5 * unbalanced, "balanced {balanced:.0}, unbalanced {unbalanced:.0}");
    }

    #[test]
    fn rows_that_do_not_match_the_labels_are_refused() {
        let error = Forest::fit(&[1.0, 2.0, 3.0], &[Direction::Bullish], 2, &ForestParams::default(), 1);
        assert!(error.unwrap_err().to_string().contains("rows of 2 features: 3 values for 1 labels"));
        assert!(Forest::fit(&[], &[], 2, &ForestParams::default(), 1).is_err());
    }
}
