//! Training: the ready rows split in time, both models fitted, the ensemble weighed, every
//! split scored and backtested, and the artifact packed.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use rayon::prelude::*;

use super::artifact::{ARTIFACT_FORMAT_VERSION, Artifact, ArtifactBytes, DataSummary, Manifest, Model};
use super::backtest::{Backtest, Market};
use super::boosting::Boosting;
use super::calibration::Calibration;
use super::dataset::{Dataset, Split};
use super::ensemble::{EnsembleRule, EnsembleVote, argmax, proba_weights, ridge_weights};
use super::forest::Forest;
use super::metrics::Metrics;
use super::scores::{CompositeRule, Score, Scores};
use crate::features::FEATURE_SCHEMA_VERSION;
use crate::ingest::BarSeries;
use crate::labels::{Direction, LabelConfig, ThresholdRule, balanced_threshold};

use super::ensemble::decide;
use super::report::{Baselines, Evaluation, FoldReport, Rules, Samples, WalkForward, model_report, verdict};
use super::{MIN_ROWS, ModelError, TrainConfig, artifact, backtest, dataset};

/// A trained artifact, its stored bytes, and its evaluation (also in the manifest).
#[derive(Debug)]
pub struct Trained {
    pub artifact: Artifact,
    pub bytes: ArtifactBytes,
}

/// Both fitted models and their ensemble weights.
struct Fitted {
    forest: Forest,
    boosting: Boosting,
    weights: [f64; 2],
}

/// Per-row predictions of both models and the ensemble.
struct Scored {
    forest: Vec<[f64; 3]>,
    boosting: Vec<[f64; 3]>,
    ensemble: Vec<EnsembleVote>,
}

impl Scored {
    fn combine(
        forest: Vec<[f64; 3]>,
        boosting: Vec<[f64; 3]>,
        weights: [f64; 2],
        config: &TrainConfig,
    ) -> Self {
        let ensemble = forest
            .iter()
            .zip(&boosting)
            .map(|(f, b)| decide(config.ensemble, [f, b], weights, config.score_threshold))
            .collect();
        Self { forest, boosting, ensemble }
    }

    fn ensemble_directions(&self) -> Vec<Direction> {
        self.ensemble.iter().map(|v| v.direction).collect()
    }

    fn hard(probabilities: &[[f64; 3]]) -> Vec<Direction> {
        probabilities.iter().map(argmax).collect()
    }

    fn metrics(&self, truth: &[Direction]) -> [Metrics; 3] {
        let ensemble_directions = self.ensemble_directions();
        let ensemble_probabilities: Vec<[f64; 3]> = self.ensemble.iter().map(|v| v.probabilities).collect();
        [
            Metrics::compute(truth, &Self::hard(&self.forest), Some(&self.forest)),
            Metrics::compute(truth, &Self::hard(&self.boosting), Some(&self.boosting)),
            Metrics::compute(truth, &ensemble_directions, Some(&ensemble_probabilities)),
        ]
    }
}

/// One class-probability vector per row, in [`Direction::ALL`] order.
type RowProbabilities = Vec<[f64; 3]>;

/// Both models' probabilities for every row of `data`.
fn model_probabilities(
    forest: &Forest,
    boosting: &Boosting,
    data: &Dataset,
) -> Result<(RowProbabilities, RowProbabilities), ModelError> {
    Ok((
        forest.predict_proba(&data.features, data.n_features()),
        boosting.predict_proba(&data.features, data.len(), data.n_features())?,
    ))
}

/// Both models' and the ensemble's predictions for `data`.
fn predict_rows(fitted: &Fitted, config: &TrainConfig, data: &Dataset) -> Result<Scored, ModelError> {
    let (forest, boosting) = model_probabilities(&fitted.forest, &fitted.boosting, data)?;
    Ok(Scored::combine(forest, boosting, fitted.weights, config))
}

/// Both models fitted on `train`.
fn fit_models(train: &Dataset, config: &TrainConfig) -> Result<(Forest, Boosting), ModelError> {
    let counts = train.class_counts();
    if let [only] = Direction::ALL.into_iter().filter(|d| counts[d.index()] > 0).collect::<Vec<_>>()[..] {
        return Err(ModelError::SingleClass(only.as_str()));
    }
    let forest =
        Forest::fit(&train.features, &train.labels, train.n_features(), &config.forest, config.seed)?;
    let boosting =
        Boosting::fit(&train.features, &train.labels, train.n_features(), &config.boosting, config.seed)?;
    Ok((forest, boosting))
}

/// Fits both models on the split's training rows, weighs them, and predicts its validation
/// rows. The vote's weights are fitted on the validation rows (the original's rule, with its
/// optimism); the probability ensemble's on an inner purged split of the training rows, whose
/// models are fitted for that alone.
fn fit_split(dataset: &Dataset, split: &Split, config: &TrainConfig) -> Result<(Fitted, Scored), ModelError> {
    let train = dataset.select(&split.train);
    let validation = dataset.select(&split.validation);
    let (forest, boosting) = fit_models(&train, config)?;
    let (forest_p, boosting_p) = model_probabilities(&forest, &boosting, &validation)?;
    let weights = match config.ensemble {
        EnsembleRule::Vote => ridge_weights(
            &validation.labels,
            [&Scored::hard(&forest_p), &Scored::hard(&boosting_p)],
            config.ridge_alpha,
        ),
        EnsembleRule::Proba => {
            let inner = dataset::holdout(&train, config.train_fraction, config.labels.horizon);
            let (inner_train, inner_validation) =
                (train.select(&inner.train), train.select(&inner.validation));
            let (inner_forest, inner_boosting) = fit_models(&inner_train, config)?;
            let (f, b) = model_probabilities(&inner_forest, &inner_boosting, &inner_validation)?;
            proba_weights(&inner_validation.labels, &f, &b)
        }
    };
    let scored = Scored::combine(forest_p, boosting_p, weights, config);
    Ok((Fitted { forest, boosting, weights }, scored))
}

/// The label rule of a split: the configured one, or with the threshold its training rows
/// balance; and the dataset labelled by it. Under a fixed threshold the dataset is the one
/// given.
fn label_split<'a>(
    dataset: &'a Dataset,
    split: &Split,
    config: &TrainConfig,
) -> (Cow<'a, Dataset>, LabelConfig) {
    match config.threshold_rule {
        ThresholdRule::Fixed => (Cow::Borrowed(dataset), config.labels),
        ThresholdRule::Balanced => {
            let threshold = balanced_threshold(split.train.iter().map(|&i| dataset.forward_return[i]));
            let labels = LabelConfig { threshold, ..config.labels };
            (Cow::Owned(dataset.relabelled(&labels)), labels)
        }
    }
}

/// The commonest label; ties go to NEUTRAL, the least committal guess, then the earlier class.
fn majority_class(labels: &[Direction]) -> Direction {
    let counts = dataset::class_counts(labels);
    let mut best = Direction::Neutral;
    for candidate in Direction::ALL {
        if counts[candidate.index()] > counts[best.index()] {
            best = candidate;
        }
    }
    best
}

/// The truth, the baselines' and the models' predictions on validation rows; folds append.
struct Predictions {
    truth: Vec<Direction>,
    majority: Vec<Direction>,
    persistence: Vec<Direction>,
    scored: Scored,
    /// Each row's time and next-bar return, for the backtest.
    times: Vec<DateTime<Utc>>,
    returns: Vec<f64>,
}

/// What a backtest needs besides the predictions: the instrument's bars per year and the
/// cost of trading.
#[derive(Debug, Clone, Copy)]
struct Trading {
    bars_per_year: f64,
    cost_bps: f64,
}

impl Predictions {
    fn of_split(dataset: &Dataset, split: &Split, scored: Scored) -> Self {
        let train_labels: Vec<Direction> = split.train.iter().map(|&i| dataset.labels[i]).collect();
        Self {
            truth: split.validation.iter().map(|&i| dataset.labels[i]).collect(),
            majority: vec![majority_class(&train_labels); split.validation.len()],
            persistence: split.validation.iter().map(|&i| dataset.persistence[i]).collect(),
            scored,
            times: split.validation.iter().map(|&i| dataset.timestamps[i]).collect(),
            returns: split.validation.iter().map(|&i| dataset.next_return[i]).collect(),
        }
    }

    fn append(&mut self, other: Self) {
        self.truth.extend(other.truth);
        self.majority.extend(other.majority);
        self.persistence.extend(other.persistence);
        self.scored.forest.extend(other.scored.forest);
        self.scored.boosting.extend(other.scored.boosting);
        self.scored.ensemble.extend(other.scored.ensemble);
        self.times.extend(other.times);
        self.returns.extend(other.returns);
    }

    fn backtest(&self, trading: Trading) -> Backtest {
        let market =
            Market { times: &self.times, returns: &self.returns, bars_per_year: trading.bars_per_year };
        Backtest::of_signals(
            &market,
            &self.scored.ensemble_directions(),
            &self.majority,
            Some(&self.persistence),
            trading.cost_bps,
        )
    }

    fn calibration(&self) -> Calibration {
        let probabilities: Vec<[f64; 3]> = self.scored.ensemble.iter().map(|v| v.probabilities).collect();
        Calibration::compute(&self.truth, &probabilities)
    }

    fn report(&self, fold: Option<(&Split, &Fitted, &LabelConfig)>, trading: Trading) -> FoldReport {
        let [random_forest, gradient_boosting, ensemble] = self.scored.metrics(&self.truth);
        FoldReport {
            train_rows: fold.map_or(0, |(split, ..)| split.train.len()),
            threshold: fold.map(|(.., labels)| labels.threshold),
            weights: fold.map(|(_, fitted, _)| fitted.weights),
            validation_rows: self.truth.len(),
            random_forest,
            gradient_boosting,
            ensemble,
            majority: Metrics::compute(&self.truth, &self.majority, None),
            persistence: Metrics::compute(&self.truth, &self.persistence, None),
            backtest: Some(self.backtest(trading)),
        }
    }
}

/// The holdout split's models and what the evaluation reports of them.
struct Holdout {
    labels: LabelConfig,
    fitted: Fitted,
    calibration: Calibration,
    report: FoldReport,
    /// The models' and the ensemble's metrics on their own training rows.
    on_train: [Metrics; 3],
    majority_class: Direction,
    train_classes: [usize; 3],
    validation_classes: [usize; 3],
}

impl Holdout {
    /// Fits the models on `split`'s training rows and scores them on both sides.
    fn evaluate(
        dataset: &Dataset,
        split: &Split,
        config: &TrainConfig,
        trading: Trading,
    ) -> Result<Self, ModelError> {
        let SplitEvaluation { dataset, labels, fitted, predictions, report } =
            SplitEvaluation::of(dataset, split, config, trading)?;
        let train = dataset.select(&split.train);
        let on_train = predict_rows(&fitted, config, &train)?.metrics(&train.labels);
        Ok(Self {
            labels,
            calibration: predictions.calibration(),
            report,
            on_train,
            majority_class: majority_class(&train.labels),
            train_classes: train.class_counts(),
            validation_classes: dataset::class_counts(&predictions.truth),
            fitted,
        })
    }
}

/// One split labelled by its rule, fitted, and scored on its validation rows.
struct SplitEvaluation<'a> {
    dataset: Cow<'a, Dataset>,
    labels: LabelConfig,
    fitted: Fitted,
    predictions: Predictions,
    report: FoldReport,
}

impl<'a> SplitEvaluation<'a> {
    fn of(
        dataset: &'a Dataset,
        split: &Split,
        config: &TrainConfig,
        trading: Trading,
    ) -> Result<Self, ModelError> {
        let (dataset, labels) = label_split(dataset, split, config);
        let (fitted, scored) = fit_split(&dataset, split, config)?;
        let predictions = Predictions::of_split(&dataset, split, scored);
        let report = predictions.report(Some((split, &fitted, &labels)), trading);
        Ok(Self { dataset, labels, fitted, predictions, report })
    }
}

fn walk_forward(
    dataset: &Dataset,
    folds: usize,
    config: &TrainConfig,
    trading: Trading,
) -> Result<WalkForward, ModelError> {
    // The folds fit side by side; their results are taken in fold order, so that the first
    // failing fold's error is the one reported, as it would be one fold after another.
    let folds: Vec<Result<(FoldReport, Predictions), ModelError>> =
        dataset::walk_forward(dataset, folds, config.labels.horizon)
            .into_par_iter()
            .map(|split| {
                let fold = SplitEvaluation::of(dataset, &split, config, trading)?;
                Ok((fold.report, fold.predictions))
            })
            .collect();
    let mut reports = Vec::with_capacity(folds.len());
    let mut pooled: Option<Predictions> = None;
    for fold in folds {
        let (report, predictions) = fold?;
        reports.push(report);
        match &mut pooled {
            Some(all) => all.append(predictions),
            None => pooled = Some(predictions),
        }
    }
    let pooled = pooled
        .map(|p| p.report(None, trading))
        .ok_or(ModelError::NotEnoughRows { rows: 0, needed: MIN_ROWS })?;
    Ok(WalkForward { folds: reports, pooled })
}

/// Trains, evaluates and packs an ensemble for a series. `created_at` is the caller's clock:
/// the same series, config and time give a byte-identical artifact.
pub fn train(
    series: &BarSeries,
    config: &TrainConfig,
    created_at: DateTime<Utc>,
) -> Result<Trained, ModelError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| ModelError::Pool(e.to_string()))?;
    pool.install(|| train_on_pool(series, config, created_at))
}

fn train_on_pool(
    series: &BarSeries,
    config: &TrainConfig,
    created_at: DateTime<Utc>,
) -> Result<Trained, ModelError> {
    let dataset = Dataset::from_bars(&series.bars, &config.labels)?;
    if dataset.len() < MIN_ROWS {
        return Err(ModelError::NotEnoughRows { rows: dataset.len(), needed: MIN_ROWS });
    }
    let times: Vec<DateTime<Utc>> = series.bars.iter().map(|b| b.ts).collect();
    // Bars per year from the instrument's own calendar; a series too short to tell trades
    // like equities.
    let trading = Trading {
        bars_per_year: backtest::bars_per_year(&times).unwrap_or(252.0),
        cost_bps: config.cost_bps,
    };
    let split = dataset::holdout(&dataset, config.train_fraction, config.labels.horizon);
    // The holdout and the walk-forward folds fit side by side: each one's serial stretches
    // leave a core to the other's fits. Each split chooses its threshold from the dataset as
    // built.
    let (holdout, walk_forward) = rayon::join(
        || Holdout::evaluate(&dataset, &split, config, trading),
        || {
            config
                .walk_forward_folds
                .filter(|k| *k > 0)
                .map(|k| walk_forward(&dataset, k, config, trading))
                .transpose()
        },
    );
    let Holdout {
        labels,
        fitted,
        calibration,
        report: holdout,
        on_train,
        majority_class,
        train_classes,
        validation_classes,
    } = holdout?;
    let walk_forward = walk_forward?;
    let [rf_train, gb_train, ensemble_train] = on_train;
    let verdict =
        verdict(&holdout.ensemble.accuracy, &holdout.majority.accuracy, &holdout.persistence.accuracy);
    let skill = |report: &FoldReport| Score::skill(report.ensemble.accuracy, report.majority.accuracy.value);
    let scores = Scores {
        backtest: skill(&holdout),
        walk_forward: walk_forward.as_ref().map(|w| skill(&w.pooled)),
        live: None,
    };
    let evaluation = Evaluation {
        random_forest: model_report(holdout.random_forest, &rf_train),
        gradient_boosting: model_report(holdout.gradient_boosting, &gb_train),
        ensemble: model_report(holdout.ensemble, &ensemble_train),
        baselines: Baselines { majority_class, majority: holdout.majority, persistence: holdout.persistence },
        weights: fitted.weights,
        samples: Samples {
            bars: series.bars.len(),
            usable_rows: dataset.len(),
            train_rows: split.train.len(),
            purged_rows: split.purged,
            validation_rows: split.validation.len(),
            train_classes,
            validation_classes,
        },
        verdict,
        backtest: holdout.backtest,
        walk_forward,
        calibration: Some(calibration),
        composite: Some(scores.composite(&CompositeRule::default())),
        scores: Some(scores),
        rules: Some(Rules { labels, threshold_rule: config.threshold_rule, ensemble: config.ensemble }),
    };

    let feature_names: Vec<String> = dataset.feature_names.iter().map(|n| (*n).to_owned()).collect();
    let model = Model {
        feature_schema_version: FEATURE_SCHEMA_VERSION,
        feature_names: feature_names.clone(),
        labels,
        score_threshold: config.score_threshold,
        ensemble: config.ensemble,
        weights: fitted.weights,
        forest: fitted.forest,
        boosting: fitted.boosting,
    };
    let payload = artifact::encode_payload(&model)?;
    let payload_sha256 = artifact::sha256_hex(&payload);
    let (first, last) = (series.bars.first(), series.bars.last());
    let manifest = Manifest {
        format_version: ARTIFACT_FORMAT_VERSION,
        version: format!("{}-{}", created_at.format("%Y%m%dT%H%M%SZ"), &payload_sha256[..8]),
        symbol: series.symbol.clone(),
        timeframe: series.timeframe,
        feature_schema_version: FEATURE_SCHEMA_VERSION,
        feature_names,
        labels,
        config: config.clone(),
        weights: fitted.weights,
        evaluation,
        data: DataSummary {
            first_bar: first.map_or(created_at, |b| b.ts),
            last_bar: last.map_or(created_at, |b| b.ts),
            bars: series.bars.len(),
            sha256: artifact::bars_sha256(&series.bars),
        },
        crate_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at,
        payload_bytes: payload.len() as u64,
        payload_sha256,
    };
    let artifact = Artifact { manifest, model };
    let bytes = artifact.encode(payload)?;
    Ok(Trained { artifact, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::separable_rows;

    /// Rows whose first feature is the class for most rows and noise for the rest, so the
    /// two models disagree somewhere and the weights have something to choose.
    fn noisy_dataset() -> Dataset {
        let (features, labels) = separable_rows();
        let n = labels.len();
        let features: Vec<f64> = features
            .chunks(2)
            .enumerate()
            .flat_map(
                |(i, row)| {
                    if i % 4 == 0 { [f64::from((i * 5 % 3) as u32), row[1]] } else { [row[0], row[1]] }
                },
            )
            .collect();
        Dataset {
            feature_names: vec!["signal", "noise"],
            features,
            persistence: labels.clone(),
            labels,
            bar_index: (0..n).collect(),
            timestamps: vec![DateTime::UNIX_EPOCH; n],
            next_return: vec![0.0; n],
            forward_return: vec![0.0; n],
            past_return: vec![0.0; n],
        }
    }

    #[test]
    fn the_probability_ensembles_weights_never_see_the_validation_labels() {
        let mut config = TrainConfig::for_timeframe(crate::Timeframe::D1);
        config.ensemble = EnsembleRule::Proba;
        config.forest.trees = 10;
        config.boosting.rounds = 10;
        config.threads = 1;
        let dataset = noisy_dataset();
        let split = dataset::holdout(&dataset, 0.7, 1);
        let (fitted, _) = fit_split(&dataset, &split, &config).unwrap();
        let mut shuffled = dataset.clone();
        for (row, other) in split.validation.iter().zip(split.validation.iter().rev()) {
            shuffled.labels[*row] = dataset.labels[*other];
        }
        shuffled.labels[split.validation[0]] = Direction::Bearish;
        assert_ne!(shuffled.labels, dataset.labels, "the validation labels changed");
        let (refitted, _) = fit_split(&shuffled, &split, &config).unwrap();
        assert_eq!(fitted.weights, refitted.weights, "no validation label touches the weights");
    }
}
