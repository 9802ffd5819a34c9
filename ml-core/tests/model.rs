//! The ensemble's honesty (no skill on noise, skill on a planted signal), determinism, and the
//! artifact's refusal of anything it cannot trust.

mod common;

use chrono::{DateTime, Duration, Utc};
use ml_core::ingest::BarSeries;
use ml_core::labels::{LabelConfig, ThresholdRule};
use ml_core::model::artifact::{
    self, ARTIFACT_FORMAT_VERSION, Artifact, ArtifactBytes, ArtifactError, sha256_hex,
};
use ml_core::model::{self, ModelError, TrainConfig, Unforecastable};
use ml_core::{Bar, Symbol, Timeframe};

/// splitmix64: a seeded generator, so every synthetic series is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Box-Muller.
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(f64::MIN_POSITIVE), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Daily bars from log returns; high/low straddle open/close, volume is noise.
fn series_from_returns(returns: &[f64], rng: &mut Rng) -> BarSeries {
    let start = DateTime::parse_from_rfc3339("2000-01-03T00:00:00Z").unwrap().to_utc();
    let mut close = 100.0;
    let bars = returns
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let open = close;
            close = open * r.exp();
            let wick = 1.0 + 0.003 * rng.uniform();
            Bar {
                ts: start + Duration::days(i as i64),
                open,
                high: open.max(close) * wick,
                low: open.min(close) / wick,
                close,
                volume: 1e6 * (1.0 + rng.uniform()),
            }
        })
        .collect();
    BarSeries { symbol: Symbol::new("SYN").unwrap(), timeframe: Timeframe::D1, bars }
}

/// A pure random walk with 1 % daily volatility.
fn random_walk(bars: usize, seed: u64) -> BarSeries {
    let mut rng = Rng(seed);
    let returns: Vec<f64> = (0..bars).map(|_| 0.01 * rng.normal()).collect();
    series_from_returns(&returns, &mut rng)
}

/// Noise plus mean reversion: each day gives back a share of the last five days' move. The
/// features see the last five days; the persistence baseline bets on the move continuing.
fn mean_reverting(bars: usize, seed: u64) -> BarSeries {
    let mut rng = Rng(seed);
    let mut returns: Vec<f64> = Vec::with_capacity(bars);
    for t in 0..bars {
        let past: f64 = returns[t.saturating_sub(5)..t].iter().sum();
        returns.push(-0.3 * past + 0.015 * rng.normal());
    }
    series_from_returns(&returns, &mut rng)
}

fn at(ts: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(ts).unwrap().to_utc()
}

fn small_config() -> TrainConfig {
    let mut config = TrainConfig::for_timeframe(Timeframe::D1);
    config.forest.trees = 20;
    config.boosting.rounds = 20;
    config
}

/// Labels one bar ahead with a threshold that makes the three classes equally likely
/// (|z| < 0.43 has probability 1/3), so that the majority baseline is itself near chance:
/// overlapping 5-bar labels would let the class shares of one validation period drift far from
/// a third, and a model with balanced class weights, which predicts all three classes, sits at
/// chance (1/3) on noise whatever those shares are.
#[test]
fn on_a_random_walk_the_ensemble_does_not_beat_the_majority_baseline() {
    let series = random_walk(5_000, 7);
    let config = TrainConfig {
        labels: LabelConfig { horizon: 1, threshold: 0.0043 },
        ..TrainConfig::for_timeframe(Timeframe::D1)
    };
    let trained = model::train(&series, &config, at("2026-01-01T00:00:00Z")).unwrap();
    let e = &trained.artifact.manifest.evaluation;
    let (ensemble, majority) = (&e.ensemble.validation.accuracy, &e.baselines.majority.accuracy);
    assert!(
        majority.low <= ensemble.value && ensemble.value <= majority.high,
        "no leakage: ensemble {ensemble:?} lies inside the majority baseline's interval {majority:?}"
    );
    assert!(!e.verdict.beats_majority && !e.verdict.beats_persistence, "{}", e.verdict.summary);
    assert!(e.samples.purged_rows >= 1, "the purge dropped the rows whose label sees validation");
    let traded = &e.backtest.as_ref().unwrap().long_short;
    assert!(
        traded.probabilistic_sharpe.is_none_or(|psr| psr < 0.95),
        "trading noise is not distinguishable from luck: {traded:?}"
    );
    assert!(e.scores.unwrap().backtest.value < 0.05, "no skill over the baseline: {:?}", e.scores);
}

#[test]
fn on_a_planted_signal_the_ensemble_beats_both_baselines_clearly() {
    let series = mean_reverting(5_000, 11);
    let trained =
        model::train(&series, &TrainConfig::for_timeframe(Timeframe::D1), at("2026-01-01T00:00:00Z"))
            .unwrap();
    let e = &trained.artifact.manifest.evaluation;
    assert!(e.verdict.beats_majority && e.verdict.beats_persistence, "{}", e.verdict.summary);
    let ensemble = e.ensemble.validation.accuracy.value;
    assert!(ensemble > e.baselines.majority.accuracy.high + 0.05, "{}", e.verdict.summary);
    assert!(ensemble > e.baselines.persistence.accuracy.high + 0.05, "{}", e.verdict.summary);
    let backtest = e.backtest.as_ref().unwrap();
    let psr = backtest.long_short.probabilistic_sharpe.unwrap();
    assert!(psr > 0.95, "trading the planted signal is not luck: PSR {psr}");
    assert!(backtest.long_short.sharpe > backtest.buy_and_hold.sharpe, "{backtest:?}");
    assert_eq!(backtest.long_short.bars, e.samples.validation_rows, "one backtest bar per validation row");
    let calibration = e.calibration.as_ref().unwrap();
    assert_eq!(calibration.rows, e.samples.validation_rows);
    assert!(e.scores.unwrap().backtest.value > 0.05, "{:?}", e.scores);
}

#[test]
fn the_same_data_and_seed_give_a_byte_identical_artifact() {
    let series = mean_reverting(1_500, 3);
    let config = small_config();
    let when = at("2026-01-01T00:00:00Z");
    let first = model::train(&series, &config, when).unwrap();
    let second = model::train(&series, &TrainConfig { threads: 1, ..config.clone() }, when).unwrap();
    assert_eq!(first.bytes, second.bytes, "thread count does not change the model");
    let other_seed = model::train(&series, &TrainConfig { seed: 43, ..config }, when).unwrap();
    assert_ne!(first.bytes.payload, other_seed.bytes.payload);
}

#[test]
fn walk_forward_reports_every_fold_and_the_pool() {
    let series = mean_reverting(1_500, 5);
    let config = TrainConfig { walk_forward_folds: Some(3), ..small_config() };
    let trained = model::train(&series, &config, at("2026-01-01T00:00:00Z")).unwrap();
    let walk = trained.artifact.manifest.evaluation.walk_forward.as_ref().unwrap();
    assert_eq!(walk.folds.len(), 3);
    let pooled_rows: usize = walk.folds.iter().map(|f| f.validation_rows).sum();
    assert_eq!(walk.pooled.validation_rows, pooled_rows);
    assert!(walk.folds.windows(2).all(|w| w[0].train_rows < w[1].train_rows));
    let pooled_backtest = walk.pooled.backtest.as_ref().unwrap();
    assert_eq!(pooled_backtest.long_short.bars, pooled_rows, "the pooled folds are backtested as one");
    let scores = trained.artifact.manifest.evaluation.scores.unwrap();
    assert!(scores.walk_forward.is_some() && scores.live.is_none());
    let composite = trained.artifact.manifest.evaluation.composite.as_ref().unwrap();
    assert_eq!(composite.missing, ["live"], "no live score is made up");
}

#[test]
fn artifacts_round_trip_and_refuse_tampering() {
    let series = mean_reverting(1_000, 9);
    let trained = model::train(&series, &small_config(), at("2026-01-01T00:00:00Z")).unwrap();
    let decoded = Artifact::decode(&trained.bytes).unwrap();
    assert_eq!(decoded.manifest, trained.artifact.manifest);
    let manifest: serde_json::Value = serde_json::from_slice(&trained.bytes.manifest).unwrap();
    assert_eq!(manifest["format_version"], ARTIFACT_FORMAT_VERSION);
    assert_eq!(manifest["symbol"], "SYN");
    assert!(manifest["evaluation"]["verdict"]["summary"].as_str().unwrap().starts_with("ensemble accuracy"));

    // A payload alone, as a forecast reads it, vouched for by the hash latest.json names.
    let payload_sha256 = &trained.artifact.manifest.payload_sha256;
    let model = artifact::decode_payload(&trained.bytes.payload, payload_sha256).unwrap();
    assert_eq!(format!("{model:?}"), format!("{:?}", decoded.model), "the model the whole artifact holds");

    let mut flipped = trained.bytes.clone();
    let middle = flipped.payload.len() / 2;
    flipped.payload[middle] ^= 1;
    assert!(matches!(Artifact::decode(&flipped), Err(ArtifactError::Checksum { .. })));
    let refused = artifact::decode_payload(&flipped.payload, payload_sha256);
    assert!(matches!(refused, Err(ArtifactError::Checksum { .. })), "{refused:?}");

    let mut newer = trained.bytes.clone();
    newer.payload[4..8].copy_from_slice(&(ARTIFACT_FORMAT_VERSION + 1).to_le_bytes());
    let mut manifest_json = manifest.clone();
    manifest_json["payload_sha256"] = sha256_hex(&newer.payload).into();
    newer.manifest = serde_json::to_vec(&manifest_json).unwrap();
    assert!(
        matches!(Artifact::decode(&newer), Err(ArtifactError::NewerFormat { found, .. }) if found == ARTIFACT_FORMAT_VERSION + 1)
    );

    let mut newer_manifest = trained.bytes;
    let mut manifest_json = manifest;
    manifest_json["format_version"] = (ARTIFACT_FORMAT_VERSION + 1).into();
    manifest_json["something_new"] = "a field this build does not know".into();
    newer_manifest.manifest = serde_json::to_vec(&manifest_json).unwrap();
    let err = Artifact::decode(&newer_manifest).unwrap_err();
    assert!(err.to_string().contains("newer than this build reads"), "{err}");

    let garbage = ArtifactBytes { manifest: b"{".to_vec(), payload: vec![] };
    assert!(matches!(Artifact::decode(&garbage), Err(ArtifactError::Manifest(_))));
}

#[test]
fn predictions_come_from_the_last_bar_and_refuse_what_they_cannot_use() {
    let series = mean_reverting(1_000, 13);
    let trained = model::train(&series, &small_config(), at("2026-01-01T00:00:00Z")).unwrap();
    let mut artifact = Artifact::decode(&trained.bytes).unwrap();
    let forecast = model::predict(&artifact.model, &series.bars).unwrap();
    assert_eq!(forecast.bar_ts, series.bars.last().unwrap().ts);
    assert_eq!(forecast.horizon, 5);
    assert!((forecast.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert_eq!(forecast.confidence, forecast.probabilities[forecast.direction.index()]);

    let err = model::predict(&artifact.model, &series.bars[..50]).unwrap_err();
    assert!(
        matches!(err, ModelError::Unforecastable(Unforecastable::NotEnoughBars { bars: 50, .. })),
        "{err}"
    );

    artifact.model.feature_names.pop();
    let err = model::predict(&artifact.model, &series.bars).unwrap_err();
    assert!(matches!(err, ModelError::SchemaMismatch { .. }), "{err}");
}

#[test]
fn too_little_data_is_refused_clearly() {
    let series = mean_reverting(150, 1);
    let err = model::train(&series, &small_config(), at("2026-01-01T00:00:00Z")).unwrap_err();
    assert!(matches!(err, ModelError::NotEnoughRows { .. }), "{err}");
    assert!(!err.is_retryable());
}

#[test]
fn real_daily_bars_train_and_predict() {
    let series = common::series("GOOGL-daily-2009-2018.csv");
    let trained = model::train(&series, &small_config(), at("2026-01-01T00:00:00Z")).unwrap();
    let e = &trained.artifact.manifest.evaluation;
    assert_eq!(e.samples.bars, 2_335);
    assert_eq!(
        e.samples.train_rows + e.samples.purged_rows + e.samples.validation_rows,
        e.samples.usable_rows
    );
    let forecast = model::predict(&trained.artifact.model, &series.bars).unwrap();
    assert_eq!(forecast.bar_ts.format("%F").to_string(), "2018-08-29");
}

/// The `auto` threshold is the features' causality check applied to the label rule: bars
/// after the training rows (validation, and anything later) never move it; a training bar
/// does. A third of the training rows come out NEUTRAL, whatever the instrument's scale.
#[test]
fn balanced_thresholds_come_from_the_training_rows_only() {
    let series = mean_reverting(1_500, 3);
    let config = TrainConfig {
        threshold_rule: ThresholdRule::Balanced,
        walk_forward_folds: Some(2),
        ..small_config()
    };
    let created = at("2026-01-01T00:00:00Z");
    let threshold_of = |series: &BarSeries| {
        let manifest = model::train(series, &config, created).unwrap().artifact.manifest;
        let folds = manifest
            .evaluation
            .walk_forward
            .as_ref()
            .unwrap()
            .folds
            .iter()
            .map(|f| f.threshold)
            .collect::<Vec<_>>();
        (manifest.labels.threshold, folds, manifest.evaluation.samples.train_classes)
    };
    let (threshold, folds, train_classes) = threshold_of(&series);
    assert_ne!(threshold, config.labels.threshold, "the threshold is chosen, not the default");
    let train_rows: usize = train_classes.iter().sum();
    let neutral_share = train_classes[1] as f64 / train_rows as f64;
    assert!((neutral_share - 1.0 / 3.0).abs() < 0.01, "{train_classes:?}");

    // The last fifth of the bars lie in the holdout's validation rows and in the last fold's.
    let mut later_changed = series.clone();
    let cut = series.bars.len() * 4 / 5;
    for bar in &mut later_changed.bars[cut..] {
        (bar.open, bar.high, bar.low, bar.close) =
            (bar.open * 1.5, bar.high * 1.5, bar.low * 1.5, bar.close * 1.5);
    }
    let (same, same_folds, _) = threshold_of(&later_changed);
    assert_eq!(same.to_bits(), threshold.to_bits(), "a validation bar moved the threshold");
    assert_eq!(same_folds[0], folds[0], "a bar after the first fold's rows moved its threshold");

    let mut earlier_changed = series;
    for bar in &mut earlier_changed.bars[300..310] {
        (bar.open, bar.high, bar.low, bar.close) =
            (bar.open * 1.1, bar.high * 1.1, bar.low * 1.1, bar.close * 1.1);
    }
    assert_ne!(threshold_of(&earlier_changed).0, threshold, "training bars choose the threshold");
}
