//! `evaluate`: score past forecasts against the bars that followed them, judge
//! each pair's current model on them, and watch it for drift.
//!
//! A forecast is scored once the bar `horizon` bars after it exists, with the label rule
//! (horizon and threshold) its model was trained on. Live accuracy is the share of correct
//! forecasts of the pair's current model over a rolling window of bar time; its live score is
//! the skill over the model's majority class on the same outcomes, and its realised signals
//! are backtested (each position held to the next bar, as in training). With the training
//! run's backtest and walk-forward scores they make the composite and its drift flag (a
//! `live_scores` row per pair). Drift of accuracy is judged by [`DriftPolicy::judge`]: a
//! drifting model raises one alert (a `drift_alerts` row and a warning) and one retraining
//! job; the next alert waits for the next model. Each symbol's timeframes are reconciled into
//! a consensus at every scored forecast of its shortest one, and scored against the same
//! outcome.
//!
//! Like every trigger, this writes nothing to the database itself: outcomes and alerts travel to
//! the collector as results.

use crate::ProducerError;
use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;

use chrono::{Duration, Utc};
use fleet::database::scoring::{DueForecast, ModelRecord, Scored};
use fleet::lifecycle::DriftPolicy;
use ml_core::job::{DriftAlert, ForecastOutcome, JobResult, LiveScore, Outcome, Pair};
use ml_core::model::TrainSettings;
use ml_core::model::consensus;
use ml_core::model::live::{ConsensusRecord, Live, consensus_records, live_accuracy, share};
use ml_core::model::scores::CompositeRule;

use crate::trigger::{Connections, Services, Training, Trigger};

/// What `evaluate` judges with, and where.
#[derive(Debug, Clone, Default)]
pub struct Evaluate {
    pub services: Services,
    pub drift: DriftPolicy,
    /// The composite confidence's weights and drift flag.
    pub composite: CompositeRule,
    /// How each symbol's timeframes are reconciled.
    pub consensus_rule: consensus::Rule,
    /// The configuration of the retraining jobs a drift alert enqueues.
    pub training: TrainSettings,
}

/// Scores the forecasts that came due, records each pair's live score and consensus, and
/// alerts and retrains where accuracy drifted.
pub async fn run(args: Evaluate) -> Result<ExitCode, ProducerError> {
    run_on(&Connections::open(&args.services).await?, &args).await
}

/// [`run`] over open connections (`args.services` is not read).
pub async fn run_on(connections: &Connections, args: &Evaluate) -> Result<ExitCode, ProducerError> {
    let composite_rule = args.composite;
    let (store, trigger) = (&connections.store, Trigger::on(connections));
    let now = Utc::now();

    let due = trigger.database.due_forecasts().await?;
    let outcomes: Vec<ForecastOutcome> = due.into_iter().map(DueForecast::score).collect();
    let results: Vec<JobResult> =
        outcomes.iter().map(|outcome| trigger.result(Outcome::ForecastOutcome(outcome.clone()))).collect();
    trigger.results.publish(&results).await?;
    println!("{} forecasts scored", outcomes.len());

    // The collector may not have written the new outcomes yet: they join the recorded ones.
    let window_start = now - Duration::days(args.drift.drift_window_days.into());
    // Keyed by forecast: the collector may have written some of them already.
    let mut scored: BTreeMap<String, Scored> = trigger
        .database
        .scored_forecasts(window_start)
        .await?
        .into_iter()
        .map(|s| (s.forecast_job_id.clone(), s))
        .collect();
    scored.extend(
        outcomes
            .iter()
            .filter(|o| o.bar_ts >= window_start)
            .map(|o| (o.forecast_job_id.clone(), Scored::of_outcome(o))),
    );
    let scored: Vec<Scored> = scored.into_values().collect();
    let alerted: HashSet<(Pair, Option<String>)> =
        trigger.database.drift_alerted().await?.into_iter().collect();

    println!(
        "{:<10} {:<4} {:<30} {:>9} {:>6} {:>8} {:>10} {:>6} {:>8} {:>9} {:>7} {:>7}  DRIFT",
        "SYMBOL",
        "TF",
        "MODEL",
        "EVALUATED",
        "LIVE",
        "MAJORITY",
        "VALIDATION",
        "SCORE",
        "BACKTEST",
        "COMPOSITE",
        "RETURN",
        "B&H"
    );
    let mut alerts = Vec::new();
    let mut live_scores = Vec::new();
    for (pair, live) in live_accuracy(&scored) {
        let record = match &live.artifact_version {
            Some(version) => trigger.database.model_record(version).await?,
            None => ModelRecord::default(),
        };
        let judged = live.judge(&pair, &record, args.drift.drift_min_forecasts, &composite_rule);
        let drift =
            record.validation_accuracy.and_then(|v| args.drift.judge(live.correct(), live.evaluated(), v));
        print_live_line(&pair, &live, &record, judged.as_ref(), drift.is_some());
        if let Some(judged) = judged {
            live_scores.push(judged);
        }
        let Some(drift) = drift else { continue };
        if alerted.contains(&(pair.clone(), live.artifact_version.clone())) {
            continue;
        }
        tracing::warn!(
            %pair,
            model = live.artifact_version.as_deref().unwrap_or("-"),
            live_accuracy = drift.live_accuracy,
            validation_accuracy = drift.validation_accuracy,
            evaluated = drift.evaluated,
            max_drop = args.drift.drift_max_drop,
            "drift: live accuracy fell below validation; retraining"
        );
        let retrain_job_id = match trigger.enqueue_training(store, &pair, &args.training, true).await? {
            Training::Queued(job_id) => Some(job_id),
            // The retraining the alert asks for is the job that is queued already.
            Training::AlreadyQueued(job_id) => job_id,
            Training::UpToDate(_) => None,
        };
        alerts.push(trigger.result(Outcome::DriftAlert(DriftAlert {
            pair,
            artifact_version: live.artifact_version,
            live_accuracy: drift.live_accuracy,
            validation_accuracy: drift.validation_accuracy,
            evaluated: drift.evaluated,
            max_drop: args.drift.drift_max_drop,
            window_start,
            retrain_job_id,
        })));
    }

    let member_scores: BTreeMap<Pair, f64> = live_scores
        .iter()
        .filter_map(|judged| Some((judged.pair.clone(), judged.scores.live?.value)))
        .collect();
    let signals = trigger.database.forecast_signals(window_start).await?;
    let consensus = consensus_records(&signals, &scored, &member_scores, args.consensus_rule, now);
    print_consensus(&consensus);

    let live_results: Vec<JobResult> =
        live_scores.into_iter().map(|judged| trigger.result(Outcome::LiveScore(Box::new(judged)))).collect();
    trigger.results.publish(&live_results).await?;
    trigger.results.publish(&alerts).await?;
    println!("run {}: {} live scores, {} drift alerts", trigger.run_id, live_results.len(), alerts.len());
    Ok(ExitCode::SUCCESS)
}

fn optional(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

/// A pair's line: live accuracy beside its baseline and validation, the scores, the realised
/// signals' return against buy-and-hold, and which drift rules fired.
fn print_live_line(
    pair: &Pair,
    live: &Live,
    record: &ModelRecord,
    judged: Option<&LiveScore>,
    accuracy_drift: bool,
) {
    let live_score = judged.and_then(|j| j.scores.live).map(|s| s.value);
    let backtest = judged.and_then(|j| j.backtest.as_ref());
    let drift = [
        accuracy_drift.then_some("accuracy"),
        (judged.and_then(|j| j.composite.drift) == Some(true)).then_some("score gap"),
    ];
    let drift: Vec<&str> = drift.into_iter().flatten().collect();
    println!(
        "{:<10} {:<4} {:<30} {:>9} {:>6.3} {:>8} {:>10} {:>6} {:>8} {:>9} {:>7} {:>7}  {}",
        pair.symbol.as_str(),
        pair.timeframe.as_str(),
        live.artifact_version.as_deref().unwrap_or("-"),
        live.evaluated(),
        share(live.correct(), live.evaluated()),
        optional(judged.map(|j| j.majority_accuracy), 3),
        optional(record.validation_accuracy, 3),
        // Too few forecasts for a live score: say so rather than show a number.
        if judged.is_some() && live_score.is_none() { "few".to_owned() } else { optional(live_score, 3) },
        optional(judged.map(|j| j.scores.backtest.value), 3),
        optional(judged.map(|j| j.composite.value), 3),
        backtest.map_or_else(|| "-".to_owned(), |b| format!("{:+.1}%", b.long_short.total_return * 100.0)),
        backtest.map_or_else(|| "-".to_owned(), |b| format!("{:+.1}%", b.buy_and_hold.total_return * 100.0)),
        drift.join(", "),
    );
}

fn print_consensus(records: &[ConsensusRecord]) {
    if records.is_empty() {
        return;
    }
    println!(
        "\n{:<10} {:<4} {:>6} {:>9} {:>9}  LATEST",
        "CONSENSUS", "BASE", "SCORED", "CONSENSUS", "BASE TF"
    );
    for record in records {
        let latest = record.latest.as_ref().map_or_else(String::new, |(c, members)| {
            format!(
                "{} {:.3} ({} timeframes, agreement {:.2})",
                c.direction.as_str(),
                c.confidence,
                members,
                c.agreement
            )
        });
        let accuracy = |correct: usize| {
            if record.scored == 0 { "-".to_owned() } else { format!("{:.3}", share(correct, record.scored)) }
        };
        println!(
            "{:<10} {:<4} {:>6} {:>9} {:>9}  {latest}",
            record.base.symbol.as_str(),
            record.base.timeframe.as_str(),
            record.scored,
            accuracy(record.consensus_correct),
            accuracy(record.base_correct),
        );
    }
}
