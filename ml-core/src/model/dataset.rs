//! From bars to what models learn from: the ready, labelled rows as a feature matrix, in time
//! order, and the time-ordered splits with their purge.

use chrono::{DateTime, Utc};

use super::ModelError;
use crate::bar::Bar;
use crate::features::{self, READY_COLUMN};
use crate::labels::{Direction, LabelConfig};

/// The rows that can train or be scored: ready features and a label.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub feature_names: Vec<&'static str>,
    /// Row-major: `features[row * n_features + column]`.
    pub features: Vec<f64>,
    pub labels: Vec<Direction>,
    /// The persistence baseline: the label of the last completed `horizon`-bar return, which
    /// is known at the row's bar.
    pub persistence: Vec<Direction>,
    /// Index of the row's bar in the input bars; the purge works on it.
    pub bar_index: Vec<usize>,
    pub timestamps: Vec<DateTime<Utc>>,
    /// The return from the row's close to the next bar's, which a position taken on the
    /// row's signal earns (the backtest's; 0 for the last bar, which has none).
    pub next_return: Vec<f64>,
    /// The `horizon`-bar return ahead of the row, which its label classifies.
    pub forward_return: Vec<f64>,
    /// The last completed `horizon`-bar return, which its persistence label classifies.
    pub past_return: Vec<f64>,
}

/// Row-major feature values of the given training columns, and which rows are ready.
pub(super) fn feature_rows(bars: &[Bar], names: &[&str]) -> Result<(Vec<Vec<f64>>, Vec<bool>), ModelError> {
    let frame = features::compute(bars)?;
    let columns = names
        .iter()
        .map(|name| -> Result<Vec<f64>, ModelError> {
            Ok(frame.column(name)?.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ready: Vec<bool> = frame.column(READY_COLUMN)?.bool()?.iter().map(|r| r.unwrap_or(false)).collect();
    Ok((columns, ready))
}

impl Dataset {
    /// The training feature set's ready rows whose label is known.
    pub fn from_bars(bars: &[Bar], labels: &LabelConfig) -> Result<Self, ModelError> {
        let feature_names: Vec<&'static str> = features::training_features().collect();
        let (columns, ready) = feature_rows(bars, &feature_names)?;
        let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
        let future = labels.forward_returns(&closes);
        let mut dataset = Self {
            features: Vec::with_capacity(bars.len() * feature_names.len()),
            feature_names,
            labels: Vec::new(),
            persistence: Vec::new(),
            bar_index: Vec::new(),
            timestamps: Vec::new(),
            next_return: Vec::new(),
            forward_return: Vec::new(),
            past_return: Vec::new(),
        };
        for (t, bar) in bars.iter().enumerate() {
            let (Some(forward), true, Some(past)) = (future[t], ready[t], t.checked_sub(labels.horizon))
            else {
                continue;
            };
            let past_return = closes[t] / closes[past] - 1.0;
            dataset.features.extend(columns.iter().map(|c| c[t]));
            dataset.labels.push(labels.classify(forward));
            dataset.persistence.push(labels.classify(past_return));
            dataset.forward_return.push(forward);
            dataset.past_return.push(past_return);
            dataset.bar_index.push(t);
            dataset.timestamps.push(bar.ts);
            dataset.next_return.push(closes.get(t + 1).map_or(0.0, |next| next / closes[t] - 1.0));
        }
        Ok(dataset)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    pub fn row(&self, row: usize) -> &[f64] {
        let n = self.n_features();
        &self.features[row * n..(row + 1) * n]
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Self {
        Self {
            feature_names: self.feature_names.clone(),
            features: indices.iter().flat_map(|&i| self.row(i).iter().copied()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            persistence: indices.iter().map(|&i| self.persistence[i]).collect(),
            bar_index: indices.iter().map(|&i| self.bar_index[i]).collect(),
            timestamps: indices.iter().map(|&i| self.timestamps[i]).collect(),
            next_return: indices.iter().map(|&i| self.next_return[i]).collect(),
            forward_return: indices.iter().map(|&i| self.forward_return[i]).collect(),
            past_return: indices.iter().map(|&i| self.past_return[i]).collect(),
        }
    }

    /// The same rows with their labels and persistence labels under another threshold.
    pub fn relabelled(&self, labels: &LabelConfig) -> Self {
        Self {
            labels: self.forward_return.iter().map(|r| labels.classify(*r)).collect(),
            persistence: self.past_return.iter().map(|r| labels.classify(*r)).collect(),
            ..self.clone()
        }
    }

    /// How many rows of each class, in [`Direction::ALL`] order.
    pub fn class_counts(&self) -> [usize; 3] {
        class_counts(&self.labels)
    }
}

/// How many of `labels` are of each class, in [`Direction::ALL`] order.
pub fn class_counts(labels: &[Direction]) -> [usize; 3] {
    let mut counts = [0; 3];
    for label in labels {
        counts[label.index()] += 1;
    }
    counts
}

/// Row indices of one time-ordered split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    /// Training rows dropped because their label window reaches into validation.
    pub purged: usize,
}

/// The rows before `validation_start` whose label window ends before the first validation
/// bar: a row at bar t is labelled by bar `t + horizon`, so one that late would have seen the
/// validation period. That is the purge, with an embargo of `horizon` bars.
fn purged_train(
    dataset: &Dataset,
    train_end: usize,
    validation_start: usize,
    horizon: usize,
) -> (Vec<usize>, usize) {
    let first_validation_bar = dataset.bar_index[validation_start];
    let train: Vec<usize> =
        (0..train_end).filter(|&i| dataset.bar_index[i] + horizon < first_validation_bar).collect();
    let purged = train_end - train.len();
    (train, purged)
}

/// Oldest `train_fraction` of the rows to train (purged), the rest to validate.
pub fn holdout(dataset: &Dataset, train_fraction: f64, horizon: usize) -> Split {
    let n = dataset.len();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a fraction of a row count"
    )]
    let boundary = ((n as f64 * train_fraction).floor() as usize).clamp(1, n.saturating_sub(1));
    let (train, purged) = purged_train(dataset, boundary, boundary, horizon);
    Split { train, validation: (boundary..n).collect(), purged }
}

/// `folds` expanding walk-forward splits: the rows are cut into `folds + 1` blocks; fold i
/// trains on blocks `0..=i` (purged) and validates on block `i + 1`.
pub fn walk_forward(dataset: &Dataset, folds: usize, horizon: usize) -> Vec<Split> {
    let n = dataset.len();
    let block = n / (folds + 1);
    (1..=folds)
        .map(|i| {
            let start = block * i;
            let end = if i == folds { n } else { block * (i + 1) };
            let (train, purged) = purged_train(dataset, start, start, horizon);
            Split { train, validation: (start..end).collect(), purged }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(bar_index: Vec<usize>) -> Dataset {
        let n = bar_index.len();
        Dataset {
            feature_names: vec!["x"],
            features: (0..n).map(|i| i as f64).collect(),
            labels: vec![Direction::Neutral; n],
            persistence: vec![Direction::Neutral; n],
            timestamps: vec![DateTime::UNIX_EPOCH; n],
            next_return: vec![0.0; n],
            forward_return: vec![0.0; n],
            past_return: vec![0.0; n],
            bar_index,
        }
    }

    #[test]
    fn holdout_purges_rows_whose_label_sees_validation() {
        let data = dataset((100..200).collect());
        let split = holdout(&data, 0.7, 5);
        assert_eq!(split.validation, (70..100).collect::<Vec<_>>());
        // Bar 169 + 5 = 174 is not before the first validation bar 170: rows 65..70 go.
        assert_eq!(split.train, (0..65).collect::<Vec<_>>());
        assert_eq!(split.purged, 5);
        let last_train_bar = data.bar_index[*split.train.last().unwrap()];
        assert!(last_train_bar + 5 < data.bar_index[split.validation[0]]);
    }

    #[test]
    fn gaps_in_the_rows_purge_less() {
        // Rows 60..70 are missing (not ready): the last training bars are already far enough.
        let bars: Vec<usize> = (0..60).chain(75..115).collect();
        let data = dataset(bars);
        let split = holdout(&data, 0.6, 5);
        assert_eq!((split.train.len(), split.purged), (60, 0));
    }

    #[test]
    fn walk_forward_folds_expand_and_never_overlap() {
        let data = dataset((0..100).collect());
        let folds = walk_forward(&data, 4, 3);
        assert_eq!(folds.len(), 4);
        assert_eq!(folds[0].validation, (20..40).collect::<Vec<_>>());
        assert_eq!(folds[3].validation, (80..100).collect::<Vec<_>>());
        for fold in &folds {
            assert_eq!(fold.purged, 3);
            assert!(fold.train.iter().all(|&t| data.bar_index[t] + 3 < data.bar_index[fold.validation[0]]));
        }
        assert!(folds.windows(2).all(|w| w[0].train.len() < w[1].train.len()));
    }
}
