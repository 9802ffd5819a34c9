//! The Random Forest: smartcore trees, grown in parallel, with class probabilities.
//!
//! smartcore's forest grows its trees one after another and only predicts the majority vote.
//! We grow each tree as a one-tree smartcore forest (its bootstrap and its random feature subset
//! per split intact) on a rayon pool, and keep the trees: the share of trees voting for a class
//! is its probability.
//!
//! A fitted tree is kept as [`Node`]s in preorder, 16 bytes each, not as smartcore's structs
//! (104 bytes a node, in a forest per tree): the trees of a job are most of its memory, and
//! of an artifact's bytes. smartcore's fields are private, so a tree is read through its serde
//! layout ([`SmartcoreForest`]), once, right after it is grown; payloads of formats 1 and 2,
//! which hold smartcore's forests, are read the same way. A flattened tree predicts exactly
//! what smartcore's does (`a_flattened_tree_predicts_what_smartcore_does`).
//!
//! Balanced class weights (scikit-learn's `class_weight="balanced"`, which the original used)
//! become replication: rows of rarer classes are repeated until every class has as many rows as
//! the commonest one, and each tree then bootstraps from that. In expectation every class
//! weighs the same, which is what balanced weights do.

use std::marker::PhantomData;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::{DecisionTreeClassifierParameters, SplitCriterion};

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

impl ForestParams {
    /// smartcore's parameters for tree number `tree` of a forest seeded with `seed`, grown as
    /// a forest of one.
    fn one_tree(&self, seed: u64, tree: u16) -> RandomForestClassifierParameters {
        RandomForestClassifierParameters {
            criterion: SplitCriterion::Gini,
            max_depth: Some(self.max_depth),
            min_samples_leaf: self.min_samples_leaf,
            min_samples_split: self.min_samples_split,
            n_trees: 1,
            m: None,
            keep_samples: false,
            seed: seed.wrapping_add(u64::from(tree)),
        }
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

/// smartcore 0.7's `RandomForestClassifier` as serde lays it out: read, never written.
#[derive(Deserialize)]
struct SmartcoreForest {
    trees: Option<Vec<SmartcoreTree>>,
    _classes: Option<Vec<u32>>,
    _samples: Option<Vec<Vec<bool>>>,
}

/// Its `DecisionTreeClassifier`.
#[derive(Deserialize)]
struct SmartcoreTree {
    nodes: Vec<SmartcoreNode>,
    _parameters: Option<DecisionTreeClassifierParameters>,
    _num_classes: usize,
    /// The labels, which a leaf's `output` indexes.
    classes: Vec<u32>,
    _depth: u16,
    _num_features: usize,
    _phantom_tx: PhantomData<()>,
    _phantom_x: PhantomData<()>,
    _phantom_y: PhantomData<()>,
}

/// Its `Node`: a leaf is a node without a `true_child`.
#[derive(Deserialize)]
struct SmartcoreNode {
    output: usize,
    _n_node_samples: usize,
    split_feature: usize,
    split_value: Option<f64>,
    _split_score: Option<f64>,
    true_child: Option<usize>,
    false_child: Option<usize>,
    _impurity: Option<f64>,
}

/// Format 1 and 2 payloads' forest: smartcore's one-tree forests.
#[derive(Deserialize)]
pub(super) struct LegacyForest {
    trees: Vec<SmartcoreForest>,
}

impl TryFrom<LegacyForest> for Forest {
    type Error = ModelError;

    fn try_from(legacy: LegacyForest) -> Result<Self, ModelError> {
        let trees = legacy.trees.iter().flat_map(|forest| forest.trees.iter().flatten()).map(flatten);
        Ok(Self { trees: trees.collect::<Result<_, _>>()? })
    }
}

/// `tree`'s nodes in preorder, the true side of a split right after it.
fn flatten(tree: &SmartcoreTree) -> Result<Vec<Node>, ModelError> {
    let malformed = |detail: &str| ModelError::Fit(format!("a smartcore tree is malformed: {detail}"));
    let index = |value: usize| u32::try_from(value).map_err(|_| malformed("too many nodes or features"));
    let mut nodes = Vec::with_capacity(tree.nodes.len());
    // (smartcore's node, the split whose `other` is that node)
    let mut pending = vec![(0, None)];
    while let Some((id, split)) = pending.pop() {
        if let Some(split) = split {
            let here = index(nodes.len())?;
            let at: &mut Node = &mut nodes[split];
            at.other = here;
        }
        let node: &SmartcoreNode = tree.nodes.get(id).ok_or_else(|| malformed("a child out of range"))?;
        match node.true_child {
            Some(true_child) => {
                let false_child = node.false_child.ok_or_else(|| malformed("a split with one child"))?;
                let threshold = node.split_value.unwrap_or(f64::NAN);
                pending.push((false_child, Some(nodes.len())));
                pending.push((true_child, None));
                nodes.push(Node { feature: index(node.split_feature)?, threshold, other: 0 });
            }
            None => {
                let class = *tree.classes.get(node.output).ok_or_else(|| malformed("a leaf of no class"))?;
                nodes.push(Node { feature: LEAF, threshold: 0.0, other: class });
            }
        }
        if nodes.len() > tree.nodes.len() {
            return Err(malformed("a node reached twice"));
        }
    }
    Ok(nodes)
}

/// A fitted one-tree smartcore forest's tree, flattened.
fn flatten_fitted(tree: &Tree) -> Result<Vec<Node>, ModelError> {
    let bytes = postcard::to_allocvec(tree).map_err(|e| ModelError::Fit(e.to_string()))?;
    let forest: SmartcoreForest = postcard::from_bytes(&bytes).map_err(|e| ModelError::Fit(e.to_string()))?;
    match forest.trees.as_deref() {
        Some([tree]) => flatten(tree),
        _ => Err(ModelError::Fit("a one-tree smartcore forest without one tree".to_owned())),
    }
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
                // Flattened here, so that a job never holds more than a tree per thread
                // in smartcore's layout.
                let grown = Tree::fit(&x, &y, params.one_tree(seed, tree));
                flatten_fitted(&grown.map_err(|e| ModelError::Fit(e.to_string()))?)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { trees })
    }

    /// The share of trees voting for each class, for each of the row-major `features`' rows;
    /// rows in parallel on the caller's rayon pool, each row's votes summed in tree order.
    pub fn predict_proba(&self, features: &[f64], n_features: usize) -> Vec<[f64; 3]> {
        #[expect(clippy::cast_precision_loss, reason = "a few hundred trees")]
        let share = 1.0 / self.trees.len() as f64;
        features
            .par_chunks(n_features.max(1))
            .map(|row| {
                let mut probabilities = [0.0; 3];
                for tree in &self.trees {
                    probabilities[class_of(tree, row)] += share;
                }
                probabilities
            })
            .collect()
    }
}

fn class_id(direction: Direction) -> u32 {
    u32::try_from(direction.index()).expect("three classes")
}

/// smartcore's one-tree forests grown as [`Forest::fit`] grows them (unbalanced, so the rows
/// are as given) in the postcard bytes format 1 and 2 payloads hold, and `fit`'s forest.
#[cfg(test)]
pub(super) fn legacy_and_fitted(
    features: &[f64],
    labels: &[Direction],
    n_features: usize,
    trees: u16,
    seed: u64,
) -> (Vec<u8>, Forest) {
    let params = ForestParams { trees, balanced: false, ..ForestParams::default() };
    let fitted = Forest::fit(features, labels, n_features, &params, seed).unwrap();
    let x = dense(features, labels.len(), n_features).unwrap();
    let y: Vec<u32> = labels.iter().map(|&l| class_id(l)).collect();
    let smartcore_trees: Vec<Tree> =
        (0..trees).map(|tree| Tree::fit(&x, &y, params.one_tree(seed, tree)).unwrap()).collect();
    (postcard::to_allocvec(&smartcore_trees).unwrap(), fitted)
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
        let probabilities = forest.predict_proba(&features, 2);
        for (p, label) in probabilities.iter().zip(&labels) {
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            assert!(p[label.index()] > 0.5, "{p:?} for {label:?}");
        }
    }

    /// Noisy rows: deep trees with many splits on five features. (No NaN: smartcore's fit
    /// panics on one; the features are never NaN.)
    fn noisy_rows() -> (Vec<f64>, Vec<u32>) {
        let features: Vec<f64> = (0..2_000u32)
            .flat_map(|i| {
                let t = f64::from(i);
                [
                    (t * 0.11).sin(),
                    (t * 0.37).cos(),
                    f64::from(i * 7 % 13),
                    (t * 0.05).sin() * (t * 0.3).cos(),
                    t,
                ]
            })
            .collect();
        let labels = (0..2_000u32).map(|i| (i * 31 + i / 7) % 3).collect();
        (features, labels)
    }

    #[test]
    fn a_flattened_tree_predicts_what_smartcore_does() {
        let (features, labels) = noisy_rows();
        let x = dense(&features, labels.len(), 5).unwrap();
        for seed in 0..4 {
            let params = RandomForestClassifierParameters {
                criterion: SplitCriterion::Gini,
                max_depth: Some(15),
                min_samples_leaf: 1,
                min_samples_split: 2,
                n_trees: 1,
                m: None,
                keep_samples: false,
                seed,
            };
            let tree = Tree::fit(&x, &labels, params).unwrap();
            let flat = flatten_fitted(&tree).unwrap();
            assert!(flat.len() > 100, "a deep tree: {} nodes", flat.len());
            let theirs = tree.predict(&x).unwrap();
            let ours: Vec<u32> = features.chunks(5).map(|row| class_of(&flat, row) as u32).collect();
            assert_eq!(ours, theirs, "seed {seed}");
        }
    }

    #[test]
    fn a_legacy_forest_reads_as_the_same_flattened_trees() {
        let (features, labels) = crate::model::separable_rows();
        let (legacy, fitted) = legacy_and_fitted(&features, &labels, 2, 3, 7);
        let legacy: LegacyForest = postcard::from_bytes(&legacy).unwrap();
        assert_eq!(Forest::try_from(legacy).unwrap(), fitted);
    }
}
