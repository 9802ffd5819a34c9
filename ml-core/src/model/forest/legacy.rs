//! Forests of formats 1 and 2, which held smartcore's one-tree forests: read through mirrors
//! of smartcore 0.7's serde layout (postcard is not self-describing, so every field is
//! mirrored, in order), and flattened into [`Node`]s as they are read. Never written.

use std::marker::PhantomData;

use serde::Deserialize;

use super::{Forest, LEAF, Node};
use crate::model::ModelError;

/// Format 1 and 2 payloads' forest: smartcore's one-tree forests.
#[derive(Deserialize)]
pub(in crate::model) struct LegacyForest {
    trees: Vec<SmartcoreForest>,
}

/// smartcore's `RandomForestClassifier`.
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
    _parameters: Option<SmartcoreTreeParameters>,
    _num_classes: usize,
    /// The labels, which a leaf's `output` indexes.
    classes: Vec<u32>,
    _depth: u16,
    _num_features: usize,
    _phantom_tx: PhantomData<()>,
    _phantom_x: PhantomData<()>,
    _phantom_y: PhantomData<()>,
}

/// Its `DecisionTreeClassifierParameters`.
#[derive(Deserialize)]
struct SmartcoreTreeParameters {
    _criterion: SmartcoreCriterion,
    _max_depth: Option<u16>,
    _min_samples_leaf: usize,
    _min_samples_split: usize,
    _seed: Option<u64>,
}

/// Its `SplitCriterion`.
#[derive(Deserialize)]
enum SmartcoreCriterion {
    Gini,
    Entropy,
    ClassificationError,
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

/// smartcore's forests as formats 1 and 2 grew them, for tests of the legacy reader.
#[cfg(test)]
pub(in crate::model) mod smartcore_trees {
    use smartcore::ensemble::random_forest_classifier::{
        RandomForestClassifier, RandomForestClassifierParameters,
    };
    use smartcore::linalg::basic::matrix::DenseMatrix;
    use smartcore::tree::decision_tree_classifier::SplitCriterion;

    use super::{Forest, LegacyForest, Node, SmartcoreForest, flatten};
    use crate::labels::Direction;

    pub(super) type Tree = RandomForestClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>;

    /// Tree number `tree` of a forest seeded with `seed`, grown as a one-tree forest on
    /// row-major `features`, as formats 1 and 2 grew each tree.
    pub(super) fn grow(
        features: &[f64],
        labels: &[u32],
        n_features: usize,
        seed: u64,
        min_samples: (usize, usize),
    ) -> Tree {
        let x = DenseMatrix::new(labels.len(), n_features, features.to_vec(), false).unwrap();
        let params = RandomForestClassifierParameters {
            criterion: SplitCriterion::Gini,
            max_depth: Some(15),
            min_samples_leaf: min_samples.0,
            min_samples_split: min_samples.1,
            n_trees: 1,
            m: None,
            keep_samples: false,
            seed,
        };
        Tree::fit(&x, &labels.to_vec(), params).unwrap()
    }

    /// A grown tree, flattened as the legacy reader flattens it.
    pub(super) fn flatten_grown(tree: &Tree) -> Vec<Node> {
        let forest: SmartcoreForest = postcard::from_bytes(&postcard::to_allocvec(tree).unwrap()).unwrap();
        match forest.trees.as_deref() {
            Some([tree]) => flatten(tree).unwrap(),
            _ => panic!("a one-tree smartcore forest without one tree"),
        }
    }

    /// `trees` one-tree forests in the postcard bytes format 1 and 2 payloads hold, and the
    /// forest they should read as.
    pub(in crate::model) fn legacy_and_flattened(
        features: &[f64],
        labels: &[Direction],
        n_features: usize,
        trees: u16,
        seed: u64,
    ) -> (Vec<u8>, Forest) {
        let y: Vec<u32> = labels.iter().map(|l| u32::try_from(l.index()).unwrap()).collect();
        let grown: Vec<Tree> = (0..trees)
            .map(|tree| grow(features, &y, n_features, seed.wrapping_add(u64::from(tree)), (5, 10)))
            .collect();
        let bytes = postcard::to_allocvec(&grown).unwrap();
        let legacy: LegacyForest = postcard::from_bytes(&bytes).unwrap();
        let flattened = Forest { trees: grown.iter().map(flatten_grown).collect() };
        assert_eq!(Forest::try_from(legacy).unwrap(), flattened);
        (bytes, flattened)
    }
}

#[cfg(test)]
mod tests {
    use super::smartcore_trees::{flatten_grown, grow, legacy_and_flattened};
    use crate::model::forest::class_of;

    #[test]
    fn a_legacy_forest_reads_as_its_trees_flattened() {
        let (features, labels) = crate::model::separable_rows();
        let (_, forest) = legacy_and_flattened(&features, &labels, 2, 3, 7);
        assert_eq!(forest.trees.len(), 3);
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
    fn a_flattened_smartcore_tree_predicts_what_smartcore_does() {
        let (features, labels) = noisy_rows();
        let x =
            smartcore::linalg::basic::matrix::DenseMatrix::new(2_000, 5, features.clone(), false).unwrap();
        for seed in 0..4 {
            let tree = grow(&features, &labels, 5, seed, (1, 2));
            let flat = flatten_grown(&tree);
            assert!(flat.len() > 100, "a deep tree: {} nodes", flat.len());
            let theirs = tree.predict(&x).unwrap();
            let ours: Vec<u32> = features.chunks(5).map(|row| class_of(&flat, row) as u32).collect();
            assert_eq!(ours, theirs, "seed {seed}");
        }
    }
}
