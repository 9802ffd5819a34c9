//! Growing one tree: scikit-learn's Random Forest tree (a bootstrap of the rows, Gini splits
//! over a fresh random `sqrt(features)` of the features at every node, depth, split and leaf
//! bounds, balanced class weights), with the split search over histogram bins.
//!
//! The features are binned once per forest ([`Binned`]): at most 256 bins a feature, their
//! edges midway between neighbouring values, so a feature of at most 256 distinct values is
//! split exactly where scikit-learn would split it, and one of more at its quantiles. A node's
//! split search then costs one pass over the node's rows per candidate feature, and a tree
//! `O(rows x depth x candidates)`: smartcore's walks every training row at every node.
//!
//! The bootstrap is kept as counts: a row drawn `k` times weighs `k` times its class's weight,
//! as scikit-learn's bootstrap does, instead of being copied `k` times.

use super::{LEAF, Node};

/// At most this many bins a feature, so that a bin fits a byte.
const MAX_BINS: usize = 256;

/// Every feature's bin for every row, and the edges between the bins.
#[derive(Debug)]
pub(super) struct Binned {
    /// Per feature, the upper edge of every bin but the last, increasing: a value is in the
    /// first bin whose edge it does not exceed, and NaN in the last.
    edges: Vec<Vec<f64>>,
    /// Column-major: feature `f`'s bins are `bins[f * rows..(f + 1) * rows]`.
    bins: Vec<u8>,
    rows: usize,
}

impl Binned {
    /// Bins row-major `features` of `rows` rows.
    pub(super) fn new(features: &[f64], rows: usize, n_features: usize) -> Self {
        let mut edges = Vec::with_capacity(n_features);
        let mut bins = Vec::with_capacity(rows * n_features);
        let mut column = Vec::with_capacity(rows);
        for feature in 0..n_features {
            column.clear();
            column.extend((0..rows).map(|row| features[row * n_features + feature]));
            let feature_edges = bin_edges(&column);
            bins.extend(column.iter().map(|&value| bin_of(&feature_edges, value)));
            edges.push(feature_edges);
        }
        Self { edges, bins, rows }
    }

    fn column(&self, feature: usize) -> &[u8] {
        &self.bins[feature * self.rows..(feature + 1) * self.rows]
    }

    fn n_features(&self) -> usize {
        self.edges.len()
    }
}

/// Edges midway between neighbouring distinct values: all of them when there are few
/// enough, else those just above the values at every `1 / MAX_BINS` quantile.
fn bin_edges(column: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = column.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let mut distinct = sorted.clone();
    distinct.dedup();
    let below: Vec<f64> = if distinct.len() <= MAX_BINS {
        distinct[..distinct.len().saturating_sub(1)].to_vec()
    } else {
        let mut cuts: Vec<f64> = (1..MAX_BINS).map(|k| sorted[k * sorted.len() / MAX_BINS]).collect();
        cuts.dedup();
        // The largest value has nothing above it to split from.
        cuts.retain(|&cut| cut < distinct[distinct.len() - 1]);
        cuts
    };
    below
        .into_iter()
        .map(|value| {
            let above = distinct[distinct.partition_point(|&d| d <= value)];
            let midway = value + (above - value) / 2.0;
            // Neighbouring floats have no value between them.
            if midway < above { midway } else { value }
        })
        .collect()
}

fn bin_of(edges: &[f64], value: f64) -> u8 {
    let bin = if value.is_nan() { edges.len() } else { edges.partition_point(|&edge| edge < value) };
    u8::try_from(bin).expect("at most 256 bins")
}

/// The forest's deterministic random numbers: SplitMix64, one stream per tree.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// Tree `tree`'s stream of a forest seeded with `seed`: the streams start far apart,
    /// where consecutive seeds would start one step apart.
    fn for_tree(seed: u64, tree: u16) -> Self {
        Self(Self(seed).next().wrapping_add(Self(u64::from(tree)).next()))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(Self::GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (by multiply and shift: a bias below `n / 2^64`).
    fn below(&mut self, n: usize) -> usize {
        let wide = u128::from(self.next()) * n as u128;
        usize::try_from(wide >> 64).expect("below n")
    }
}

/// A bootstrapped row in a tree: drawn at least once.
#[derive(Debug, Clone, Copy)]
struct Sample {
    row: u32,
    class: u32,
    /// Times drawn, times its class's weight.
    weight: f64,
}

/// The rows in one bin of a node: their count and weight per class.
#[derive(Debug, Clone, Copy, Default)]
struct BinTotals {
    weight: [f64; 3],
    samples: u32,
}

/// Where a node splits: its rows in bins up to `bin` of `feature` go to the first child.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    bin: u8,
}

/// What grows every tree of a forest.
#[derive(Debug)]
pub(super) struct Grower<'a> {
    binned: &'a Binned,
    /// Class index of every row.
    classes: Vec<u32>,
    class_weights: [f64; 3],
    max_depth: u16,
    min_samples_split: usize,
    min_samples_leaf: usize,
    /// Features tried per split: scikit-learn's and smartcore's `sqrt`.
    candidates: usize,
}

/// One tree's growth: its samples, reordered as nodes split them, and its nodes.
struct Growth {
    random: SplitMix64,
    samples: Vec<Sample>,
    features: Vec<usize>,
    histogram: Vec<BinTotals>,
    /// The bins of `histogram` a candidate feature's rows occupy.
    occupied: OccupiedBins,
    nodes: Vec<Node>,
}

/// A set of bins, walked in increasing order: a split's candidates are the occupied bins in
/// order, and sorting a list of them was 8 % of the 20,000-bar job (docs/benchmarks.md).
#[derive(Debug, Default)]
struct OccupiedBins([u64; MAX_BINS / 64]);

impl OccupiedBins {
    fn insert(&mut self, bin: u8) {
        self.0[usize::from(bin >> 6)] |= 1 << (bin & 63);
    }

    fn len(&self) -> usize {
        self.0.iter().map(|word| word.count_ones() as usize).sum()
    }

    /// The bins, increasing.
    fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.iter().enumerate().flat_map(|(word, &bits)| {
            let mut rest = bits;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    u8::try_from(word * 64 + bit).expect("at most 256 bins")
                })
            })
        })
    }

    fn clear(&mut self) {
        self.0 = [0; MAX_BINS / 64];
    }
}

impl<'a> Grower<'a> {
    pub(super) fn new(binned: &'a Binned, classes: Vec<u32>, params: &super::ForestParams) -> Self {
        let mut counts = [0usize; 3];
        for &class in &classes {
            counts[class as usize] += 1;
        }
        // scikit-learn's "balanced": n / (classes present x rows of the class).
        let present = counts.iter().filter(|&&c| c > 0).count().max(1);
        #[expect(clippy::cast_precision_loss, reason = "row counts")]
        let class_weights = counts.map(|count| {
            if !params.balanced || count == 0 { 1.0 } else { classes.len() as f64 / (present * count) as f64 }
        });
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a small root")]
        let candidates = ((binned.n_features() as f64).sqrt().floor() as usize).max(1);
        Self {
            binned,
            classes,
            class_weights,
            max_depth: params.max_depth,
            min_samples_split: params.min_samples_split,
            min_samples_leaf: params.min_samples_leaf.max(1),
            candidates,
        }
    }

    /// Tree number `tree` of a forest seeded with `seed`, in preorder.
    pub(super) fn grow(&self, seed: u64, tree: u16) -> Vec<Node> {
        let mut random = SplitMix64::for_tree(seed, tree);
        let rows = self.classes.len();
        let mut draws = vec![0u32; rows];
        for _ in 0..rows {
            draws[random.below(rows)] += 1;
        }
        let samples = (0..rows)
            .filter(|&row| draws[row] > 0)
            .map(|row| {
                let class = self.classes[row];
                let weight = f64::from(draws[row]) * self.class_weights[class as usize];
                Sample { row: u32::try_from(row).expect("rows fit u32"), class, weight }
            })
            .collect();
        let mut growth = Growth {
            random,
            samples,
            features: (0..self.binned.n_features()).collect(),
            histogram: vec![BinTotals::default(); MAX_BINS],
            occupied: OccupiedBins::default(),
            nodes: Vec::new(),
        };
        let all = growth.samples.len();
        self.grow_node(&mut growth, 0..all, 0);
        // A forest's trees are most of a job's memory while it fits: keep no spare capacity.
        growth.nodes.shrink_to_fit();
        growth.nodes
    }

    /// Grows the node of `growth.samples[range]` and, below it, its subtree.
    fn grow_node(&self, growth: &mut Growth, range: std::ops::Range<usize>, depth: u16) {
        let samples = &growth.samples[range.clone()];
        let mut totals = [0.0; 3];
        for sample in samples {
            totals[sample.class as usize] += sample.weight;
        }
        let pure = totals.iter().filter(|&&w| w > 0.0).count() <= 1;
        let splittable = depth < self.max_depth
            && samples.len() >= self.min_samples_split
            && samples.len() >= 2 * self.min_samples_leaf
            && !pure;
        let split = if splittable { self.best_split(growth, range.clone(), &totals) } else { None };
        let Some(Split { feature, bin }) = split else {
            let class = (1..3).fold(0, |best, class| if totals[class] > totals[best] { class } else { best });
            growth.nodes.push(Node { feature: LEAF, threshold: 0.0, other: class as u32 });
            return;
        };
        let at = growth.nodes.len();
        let threshold = self.binned.edges[feature][usize::from(bin)];
        growth.nodes.push(Node {
            feature: u32::try_from(feature).expect("features fit u32"),
            threshold,
            other: 0,
        });
        let column = self.binned.column(feature);
        let middle =
            range.start + partition(&mut growth.samples[range.clone()], |s| column[s.row as usize] <= bin);
        self.grow_node(growth, range.start..middle, depth + 1);
        growth.nodes[at].other = u32::try_from(growth.nodes.len()).expect("nodes fit u32");
        self.grow_node(growth, middle..range.end, depth + 1);
    }

    /// The best Gini split of the node over `candidates` features drawn without replacement,
    /// features constant in the node not counted (scikit-learn's rule); `None` if no split
    /// leaves `min_samples_leaf` rows on both sides.
    fn best_split(
        &self,
        growth: &mut Growth,
        range: std::ops::Range<usize>,
        totals: &[f64; 3],
    ) -> Option<Split> {
        let Growth { random, samples, features, histogram, occupied, .. } = growth;
        let samples = &samples[range];
        let count = samples.len();
        let mut best: Option<(f64, Split)> = None;
        let mut tried = 0;
        for drawn in 0..features.len() {
            if tried == self.candidates {
                break;
            }
            let pick = drawn + random.below(features.len() - drawn);
            features.swap(drawn, pick);
            let feature = features[drawn];
            let column = self.binned.column(feature);
            for sample in samples {
                let bin = column[sample.row as usize];
                let totals = &mut histogram[usize::from(bin)];
                if totals.samples == 0 {
                    occupied.insert(bin);
                }
                totals.weight[sample.class as usize] += sample.weight;
                totals.samples += 1;
            }
            let bins = occupied.len();
            if bins > 1 {
                tried += 1;
                // A split between two occupied bins is the same split wherever between them:
                // walk only the occupied bins, in order.
                let mut left = BinTotals::default();
                for bin in occupied.iter().take(bins - 1) {
                    let here = histogram[usize::from(bin)];
                    left.samples += here.samples;
                    (0..3).for_each(|class| left.weight[class] += here.weight[class]);
                    let right_samples = count - left.samples as usize;
                    if (left.samples as usize) < self.min_samples_leaf
                        || right_samples < self.min_samples_leaf
                    {
                        continue;
                    }
                    let right: [f64; 3] = std::array::from_fn(|class| totals[class] - left.weight[class]);
                    let score = gini_proxy(&left.weight) + gini_proxy(&right);
                    if best.is_none_or(|(best, _)| score > best) {
                        best = Some((score, Split { feature, bin }));
                    }
                }
            }
            for bin in occupied.iter() {
                histogram[usize::from(bin)] = BinTotals::default();
            }
            occupied.clear();
        }
        best.map(|(_, split)| split)
    }
}

/// `sum(w_c^2) / sum(w_c)`: the children's weighted Gini impurity, up to terms the same for
/// every split of a node, negated. The larger, the purer.
fn gini_proxy(weight: &[f64; 3]) -> f64 {
    let total: f64 = weight.iter().sum();
    if total > 0.0 { weight.iter().map(|w| w * w).sum::<f64>() / total } else { 0.0 }
}

/// Moves the items that satisfy `first` before the others; returns how many do.
fn partition<T>(items: &mut [T], first: impl Fn(&T) -> bool) -> usize {
    let mut boundary = 0;
    for i in 0..items.len() {
        if first(&items[i]) {
            items.swap(boundary, i);
            boundary += 1;
        }
    }
    boundary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_a_bin_each_with_edges_midway() {
        assert_eq!(bin_edges(&[3.0, 1.0, 2.0, 1.0, f64::NAN]), [1.5, 2.5]);
        let edges = bin_edges(&[3.0, 1.0, 2.0]);
        let bins: Vec<u8> = [1.0, 1.5, 1.6, 2.5, 3.0, 9.0, f64::NAN].map(|v| bin_of(&edges, v)).to_vec();
        assert_eq!(bins, [0, 0, 1, 1, 2, 2, 2]);
        assert!(bin_edges(&[4.0, 4.0]).is_empty(), "a constant feature has one bin");
    }

    #[test]
    fn many_distinct_values_are_cut_at_their_quantiles() {
        let column: Vec<f64> = (0..10_000).map(|i| f64::from(i) * 0.5).collect();
        let edges = bin_edges(&column);
        assert_eq!(edges.len(), MAX_BINS - 1);
        assert!(edges.windows(2).all(|pair| pair[0] < pair[1]), "increasing");
        let bins: Vec<u8> = column.iter().map(|&v| bin_of(&edges, v)).collect();
        let mut per_bin = [0usize; MAX_BINS];
        bins.iter().for_each(|&b| per_bin[usize::from(b)] += 1);
        assert!(per_bin.iter().all(|&n| (38..=40).contains(&n)), "{per_bin:?}");
        // A value is in bin b exactly when it does not exceed edge b and exceeds edge b - 1,
        // which is what a split's `<=` threshold tests.
        for (&value, &bin) in column.iter().zip(&bins) {
            let bin = usize::from(bin);
            assert!(bin == MAX_BINS - 1 || value <= edges[bin]);
            assert!(bin == 0 || value > edges[bin - 1]);
        }
    }

    #[test]
    fn occupied_bins_are_walked_in_increasing_order() {
        let mut occupied = OccupiedBins::default();
        [200, 3, 64, 3, 255, 0, 63].into_iter().for_each(|bin| occupied.insert(bin));
        assert_eq!(occupied.len(), 6);
        assert_eq!(occupied.iter().collect::<Vec<_>>(), [0, 3, 63, 64, 200, 255]);
        occupied.clear();
        assert_eq!(occupied.iter().count(), 0);
    }

    #[test]
    fn a_tree_stream_is_deterministic_and_trees_differ() {
        let draws = |tree| {
            let mut random = SplitMix64::for_tree(42, tree);
            (0..8).map(|_| random.below(1000)).collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3));
        assert_ne!(draws(3), draws(4));
        assert!(draws(0).iter().all(|&d| d < 1000));
    }

    #[test]
    fn partition_puts_the_matching_items_first() {
        let mut items = [5, 2, 8, 1, 9, 3];
        let boundary = partition(&mut items, |&i| i < 4);
        assert_eq!(boundary, 3);
        assert!(items[..3].iter().all(|&i| i < 4) && items[3..].iter().all(|&i| i >= 4));
    }

    /// Each leaf's rows, by walking every training row down the tree.
    fn rows_per_leaf(nodes: &[Node], binned: &Binned, features: &[f64], n_features: usize) -> Vec<usize> {
        let mut per_node = vec![0; nodes.len()];
        for row in features.chunks(n_features) {
            let mut at = 0;
            while nodes[at].feature != LEAF {
                let node = nodes[at];
                at = if row[node.feature as usize] <= node.threshold { at + 1 } else { node.other as usize };
            }
            per_node[at] += 1;
        }
        assert_eq!(binned.rows, features.len() / n_features);
        nodes.iter().zip(per_node).filter(|(n, _)| n.feature == LEAF).map(|(_, rows)| rows).collect()
    }

    #[test]
    fn a_tree_keeps_its_depth_and_leaf_bounds() {
        let n_features = 4;
        let features: Vec<f64> = (0..3_000u32)
            .flat_map(|i| [f64::from(i % 97), f64::from(i % 13), f64::from(i), f64::from(i % 7)])
            .collect();
        let classes: Vec<u32> = (0..3_000u32).map(|i| (i * 7 + i / 11) % 3).collect();
        let binned = Binned::new(&features, 3_000, n_features);
        let params = super::super::ForestParams { max_depth: 6, min_samples_leaf: 20, ..Default::default() };
        let grower = Grower::new(&binned, classes, &params);
        let nodes = grower.grow(1, 0);
        assert_eq!(nodes, grower.grow(1, 0), "deterministic");
        // Preorder: a split's first child follows it, and its other child comes later.
        let depth_of = |target: usize| {
            let (mut at, mut depth) = (0, 0);
            while at != target {
                let node = nodes[at];
                at = if target < node.other as usize { at + 1 } else { node.other as usize };
                depth += 1;
            }
            depth
        };
        let leaves: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].feature == LEAF).collect();
        assert!(leaves.len() > 8, "the tree split: {} leaves", leaves.len());
        assert!(leaves.iter().all(|&leaf| depth_of(leaf) <= 6));
        // A leaf holds at least 20 distinct bootstrapped rows, each of which the thresholds
        // send to it: all training rows walked down, it holds at least as many.
        let rows = rows_per_leaf(&nodes, &binned, &features, n_features);
        assert!(rows.iter().all(|&r| r >= 20), "{rows:?}");
    }
}
