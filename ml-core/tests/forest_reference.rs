//! Our Random Forest engine held to smartcore's, which grew the forests of formats 1 and 2:
//! on real bars' training and validation rows, the two forests' validation accuracy and
//! log-loss differ by no more than their noise.

mod common;

use ml_core::labels::Direction;
use ml_core::model::TrainConfig;
use ml_core::model::dataset::{self, Dataset};
use ml_core::model::forest::{Forest, ForestParams};
use ml_core::model::metrics::Metrics;
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::SplitCriterion;

const TREES: u16 = 60;

/// smartcore's forest as formats 1 and 2 grew it: balanced by repeating the rarer classes'
/// rows up to the commonest class's count, one one-tree forest per seed; its vote shares.
fn smartcore_vote_shares(
    train: &Dataset,
    validation: &Dataset,
    params: &ForestParams,
    seed: u64,
) -> Vec<[f64; 3]> {
    let by_class: Vec<Vec<usize>> = Direction::ALL
        .into_iter()
        .map(|c| (0..train.len()).filter(|&i| train.labels[i] == c).collect())
        .collect();
    let target = by_class.iter().map(Vec::len).max().unwrap();
    let rows: Vec<usize> = by_class
        .iter()
        .filter(|members| !members.is_empty())
        .flat_map(|members| (0..target).map(|k| members[k * members.len() / target]))
        .collect();
    let x: Vec<f64> = rows.iter().flat_map(|&r| train.row(r).iter().copied()).collect();
    let y: Vec<u32> = rows.iter().map(|&r| train.labels[r].index() as u32).collect();
    let x = DenseMatrix::new(rows.len(), train.n_features(), x, false).unwrap();
    let v = DenseMatrix::new(validation.len(), validation.n_features(), validation.features.clone(), false)
        .unwrap();
    let mut shares = vec![[0.0; 3]; validation.len()];
    for tree in 0..params.trees {
        let one = RandomForestClassifierParameters {
            criterion: SplitCriterion::Gini,
            max_depth: Some(params.max_depth),
            min_samples_leaf: params.min_samples_leaf,
            min_samples_split: params.min_samples_split,
            n_trees: 1,
            m: None,
            keep_samples: false,
            seed: seed.wrapping_add(u64::from(tree)),
        };
        let fitted = RandomForestClassifier::fit(&x, &y, one).unwrap();
        for (share, class) in shares.iter_mut().zip(fitted.predict(&v).unwrap()) {
            share[class as usize] += 1.0 / f64::from(params.trees);
        }
    }
    shares
}

/// Accuracy and log-loss of vote shares, a row's class the one with the most votes.
fn scores(shares: &[[f64; 3]], truth: &[Direction]) -> (f64, f64) {
    let predicted: Vec<Direction> = shares
        .iter()
        .map(|p| Direction::ALL[(0..3).fold(0, |best, c| if p[c] > p[best] { c } else { best })])
        .collect();
    let metrics = Metrics::compute(truth, &predicted, Some(shares));
    (metrics.accuracy.value, metrics.log_loss.unwrap())
}

fn compare(file: &str, bars: usize) {
    let series = common::series(file);
    let bars = &series.bars[series.bars.len().saturating_sub(bars)..];
    let config = TrainConfig::for_timeframe(series.timeframe);
    let rows = Dataset::from_bars(bars, &config.labels).unwrap();
    let split = dataset::holdout(&rows, config.train_fraction, config.labels.horizon);
    let (train, validation) = (rows.select(&split.train), rows.select(&split.validation));
    let params = ForestParams { trees: TREES, ..ForestParams::default() };

    let ours = Forest::fit(&train.features, &train.labels, train.n_features(), &params, 42).unwrap();
    let ours = ours.predict_proba(&validation.features, validation.n_features());
    let theirs = smartcore_vote_shares(&train, &validation, &params, 42);

    let n = validation.len() as f64;
    let ((ours_accuracy, ours_loss), (theirs_accuracy, theirs_loss)) =
        (scores(&ours, &validation.labels), scores(&theirs, &validation.labels));
    // Two standard errors of the difference of two accuracies near p on n rows each.
    let p = (ours_accuracy + theirs_accuracy) / 2.0;
    let noise = 2.0 * (2.0 * p * (1.0 - p) / n).sqrt();
    assert!(
        (ours_accuracy - theirs_accuracy).abs() <= noise,
        "{file}: accuracy {ours_accuracy:.3} against smartcore's {theirs_accuracy:.3}, noise {noise:.3}"
    );
    assert!(
        ours_loss <= theirs_loss + 0.05,
        "{file}: log-loss {ours_loss:.3} against smartcore's {theirs_loss:.3}"
    );
}

#[test]
fn on_daily_stock_bars_our_forest_scores_as_smartcores_does() {
    compare("GOOGL-daily-2009-2018.csv", 2_000);
}

#[test]
fn on_hourly_crypto_bars_our_forest_scores_as_smartcores_does() {
    compare("BTCUSD-1h-coinbase.csv", 3_000);
}
