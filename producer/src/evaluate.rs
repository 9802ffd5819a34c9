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

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;

use chrono::{DateTime, Duration, Utc};
use fleet::database::scoring::{DueForecast, ModelRecord, Scored, Signal};
use fleet::lifecycle::DriftPolicy;
use fleet::store::ArtifactStore;
use ml_core::Symbol;
use ml_core::job::{DriftAlert, ForecastOutcome, JobResult, LiveScore, Outcome, Pair};
use ml_core::labels::Direction;
use ml_core::model::TrainSettings;
use ml_core::model::backtest::{self, Backtest, DEFAULT_COST_BPS, Market};
use ml_core::model::consensus::{self, Member};
use ml_core::model::metrics::Proportion;
use ml_core::model::scores::{CompositeRule, Score, Scores};

use crate::trigger::{Services, Training, Trigger};

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

/// A pair's live record: its current model (the one of its most recent scored forecast) and
/// that model's scored forecasts in the window, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Live {
    pub(crate) artifact_version: Option<String>,
    pub(crate) outcomes: Vec<Scored>,
}

impl Live {
    fn correct(&self) -> usize {
        self.outcomes.iter().filter(|o| o.correct()).count()
    }

    fn evaluated(&self) -> usize {
        self.outcomes.len()
    }

    /// The live score, the composite over it and the training run's scores, and the backtest
    /// of the realised signals; `None` for a model whose run recorded no scores.
    fn judge(
        &self,
        pair: &Pair,
        record: &ModelRecord,
        min_forecasts: usize,
        rule: &CompositeRule,
    ) -> Option<LiveScore> {
        let (training, majority_class) = (record.scores?, record.majority_class?);
        let n = self.evaluated();
        let majority_accuracy =
            share(self.outcomes.iter().filter(|o| o.realized == majority_class).count(), n);
        let accuracy = Proportion::wilson(self.correct(), n);
        // Below the minimum there is no live score: the composite says it is missing.
        let live = (n >= min_forecasts).then(|| Score::skill(accuracy, majority_accuracy));
        let scores = Scores { live, ..training };
        Some(LiveScore {
            pair: pair.clone(),
            artifact_version: self.artifact_version.clone(),
            evaluated: n,
            composite: scores.composite(rule),
            scores,
            live_accuracy: accuracy.value,
            majority_accuracy,
            backtest: self.backtest(record, majority_class),
        })
    }

    /// The realised signals traded by the training backtest's rule: each forecast's position
    /// held from its bar to the next, one forecast per bar; `None` below two such bars.
    fn backtest(&self, record: &ModelRecord, majority_class: Direction) -> Option<Backtest> {
        let mut traded: Vec<(DateTime<Utc>, f64, Direction)> =
            self.outcomes.iter().filter_map(|o| Some((o.bar_ts, o.next_return?, o.predicted))).collect();
        traded.dedup_by_key(|(ts, ..)| *ts);
        if traded.len() < 2 {
            return None;
        }
        let times: Vec<DateTime<Utc>> = traded.iter().map(|t| t.0).collect();
        let returns: Vec<f64> = traded.iter().map(|t| t.1).collect();
        let signals: Vec<Direction> = traded.iter().map(|t| t.2).collect();
        let bars_per_year = record.bars_per_year.or_else(|| backtest::bars_per_year(&times)).unwrap_or(252.0);
        let market = Market { times: &times, returns: &returns, bars_per_year };
        let majority = vec![majority_class; traded.len()];
        Some(Backtest::of_signals(
            &market,
            &signals,
            &majority,
            None,
            record.cost_bps.unwrap_or(DEFAULT_COST_BPS),
        ))
    }
}

#[expect(clippy::cast_precision_loss, reason = "forecast counts are far below 2^52")]
fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// Live accuracy per pair from the scored forecasts in the window.
pub(crate) fn live_accuracy(scored: &[Scored]) -> BTreeMap<Pair, Live> {
    let mut current: BTreeMap<&Pair, (&DateTime<Utc>, &Option<String>)> = BTreeMap::new();
    for s in scored {
        let entry = current.entry(&s.pair).or_insert((&s.bar_ts, &s.artifact_version));
        if s.bar_ts > *entry.0 {
            *entry = (&s.bar_ts, &s.artifact_version);
        }
    }
    let mut live = BTreeMap::new();
    for (pair, (_, version)) in current {
        let mut outcomes: Vec<Scored> =
            scored.iter().filter(|s| &s.pair == pair && &s.artifact_version == version).cloned().collect();
        outcomes.sort_by_key(|o| o.bar_ts);
        live.insert(pair.clone(), Live { artifact_version: version.clone(), outcomes });
    }
    live
}

/// One symbol's consensus at its shortest timeframe's scored forecasts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConsensusRecord {
    /// The shortest timeframe, whose outcomes score the consensus.
    pub(crate) base: Pair,
    /// Outcomes scored with at least one other timeframe's forecast open.
    pub(crate) scored: usize,
    pub(crate) consensus_correct: usize,
    /// The base timeframe's own forecasts on the same outcomes.
    pub(crate) base_correct: usize,
    /// The consensus of the latest forecasts, and how many timeframes it reconciles.
    pub(crate) latest: Option<(consensus::Consensus, usize)>,
}

/// The members of `symbol`'s consensus at `at`: per timeframe, its latest forecast still open.
fn members_at(
    signals: &[Signal],
    symbol: &Symbol,
    at: DateTime<Utc>,
    live_scores: &BTreeMap<Pair, f64>,
) -> Vec<Member> {
    let mut latest: BTreeMap<ml_core::Timeframe, &Signal> = BTreeMap::new();
    for signal in signals.iter().filter(|s| &s.pair.symbol == symbol && s.open_at(at)) {
        latest.insert(signal.pair.timeframe, signal);
    }
    latest
        .into_values()
        .map(|s| Member {
            timeframe: s.pair.timeframe,
            direction: s.direction,
            probabilities: s.probabilities,
            live_score: live_scores.get(&s.pair).copied(),
        })
        .collect()
}

/// Each symbol with forecasts on two timeframes or more: its consensus (by `rule`) at every
/// scored forecast of its shortest timeframe, scored against that forecast's outcome, and the
/// consensus of its latest forecasts. `signals` are oldest first.
pub(crate) fn consensus_records(
    signals: &[Signal],
    scored: &[Scored],
    live_scores: &BTreeMap<Pair, f64>,
    rule: consensus::Rule,
    now: DateTime<Utc>,
) -> Vec<ConsensusRecord> {
    let mut timeframes: BTreeMap<&Symbol, std::collections::BTreeSet<ml_core::Timeframe>> = BTreeMap::new();
    for signal in signals {
        timeframes.entry(&signal.pair.symbol).or_default().insert(signal.pair.timeframe);
    }
    let mut records = Vec::new();
    for (symbol, frames) in timeframes.into_iter().filter(|(_, frames)| frames.len() > 1) {
        let base = Pair { symbol: symbol.clone(), timeframe: *frames.iter().next().expect("two timeframes") };
        let (mut counted, mut consensus_correct, mut base_correct) = (0, 0, 0);
        for outcome in scored.iter().filter(|o| o.pair == base) {
            let members = members_at(signals, symbol, outcome.bar_ts, live_scores);
            let Some(signal) = consensus::reconcile(&members, rule).filter(|_| members.len() > 1) else {
                continue;
            };
            counted += 1;
            consensus_correct += usize::from(signal.direction == outcome.realized);
            base_correct += usize::from(outcome.correct());
        }
        let latest_at =
            signals.iter().filter(|s| &s.pair.symbol == symbol).map(|s| s.bar_ts).max().unwrap_or(now);
        let members = members_at(signals, symbol, latest_at, live_scores);
        let latest = consensus::reconcile(&members, rule).map(|c| (c, members.len()));
        records.push(ConsensusRecord { base, scored: counted, consensus_correct, base_correct, latest });
    }
    records
}

/// Scores the forecasts that came due, records each pair's live score and consensus, and
/// alerts and retrains where accuracy drifted.
pub async fn run(args: Evaluate) -> anyhow::Result<ExitCode> {
    let composite_rule = args.composite;
    let store = ArtifactStore::open(&args.services.store)?;
    let trigger = Trigger::open(&args.services.database, &args.services.queue).await?;
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
        let retrain_job_id = match trigger.enqueue_training(&store, &pair, &args.training, true).await? {
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

#[cfg(test)]
mod tests {
    use ml_core::Timeframe;
    use ml_core::labels::Direction::{self, Bearish, Bullish, Neutral};

    use super::*;

    fn pair(symbol: &str) -> Pair {
        Pair { symbol: symbol.parse().unwrap(), timeframe: Timeframe::D1 }
    }

    fn at(day: u32) -> DateTime<Utc> {
        format!("2026-01-{day:02}T00:00:00Z").parse().unwrap()
    }

    fn due(predicted: Direction, close_after: f64, threshold: Option<f64>) -> DueForecast {
        DueForecast {
            job_id: "f".to_owned(),
            pair: pair("AAPL"),
            artifact_version: Some("v1".to_owned()),
            bar_ts: at(5),
            horizon: 5,
            predicted,
            threshold,
            close_at: 100.0,
            close_next: Some(99.5),
            close_after,
            realized_at: at(12),
        }
    }

    fn scored(pair: Pair, version: &str, day: u32, predicted: Direction, realized: Direction) -> Scored {
        Scored {
            forecast_job_id: format!("{pair}-{version}-{day}"),
            pair,
            artifact_version: Some(version.to_owned()),
            bar_ts: at(day),
            predicted,
            realized,
            next_return: Some(if realized == Bullish { 0.01 } else { -0.01 }),
        }
    }

    #[test]
    fn a_forecast_is_scored_with_its_models_label_rule() {
        let outcome = due(Bullish, 101.0, Some(0.009)).score();
        assert_eq!(outcome.realized, Bullish, "+1 % beats 0.9 %");
        assert!((outcome.realized_return - 0.01).abs() < 1e-12);
        assert!((outcome.next_return.unwrap() + 0.005).abs() < 1e-12, "the next bar's return");
        assert_eq!(due(Bullish, 101.0, Some(0.02)).score().realized, Neutral);
        assert_eq!(due(Bearish, 98.0, None).score().realized, Bearish, "d1 default 0.9 %");
    }

    #[test]
    fn live_accuracy_counts_only_the_current_model_of_each_pair() {
        let live = live_accuracy(&[
            scored(pair("AAPL"), "old", 1, Bullish, Bearish),
            scored(pair("AAPL"), "old", 2, Bullish, Bearish),
            scored(pair("AAPL"), "new", 4, Bullish, Bearish),
            scored(pair("AAPL"), "new", 3, Bullish, Bullish),
            scored(pair("MSFT"), "m", 1, Bullish, Bullish),
        ]);
        let aapl = &live[&pair("AAPL")];
        assert_eq!(aapl.artifact_version.as_deref(), Some("new"));
        assert_eq!((aapl.correct(), aapl.evaluated()), (1, 2));
        assert!(aapl.outcomes[0].bar_ts < aapl.outcomes[1].bar_ts, "oldest first");
        let msft = &live[&pair("MSFT")];
        assert_eq!((msft.correct(), msft.evaluated()), (1, 1));
    }

    fn record(majority_class: Direction) -> ModelRecord {
        let backtest = Score::skill(Proportion::wilson(60, 100), 0.4);
        ModelRecord {
            validation_accuracy: Some(0.6),
            majority_class: Some(majority_class),
            scores: Some(Scores { backtest, walk_forward: None, live: None }),
            bars_per_year: Some(252.0),
            cost_bps: Some(0.0),
        }
    }

    #[test]
    fn the_live_score_is_skill_over_the_models_majority_class_and_absent_below_the_minimum() {
        // 8 of 10 right; the model's majority class (BEARISH) was realised 4 times.
        let outcomes: Vec<Scored> = (1..=10)
            .map(|day| {
                let realized = if day <= 4 { Bearish } else { Bullish };
                let predicted = if day <= 2 { Bullish } else { realized };
                scored(pair("AAPL"), "v", day, predicted, realized)
            })
            .collect();
        let live = Live { artifact_version: Some("v".to_owned()), outcomes };
        let rule = CompositeRule::default();
        let judged = live.judge(&pair("AAPL"), &record(Bearish), 10, &rule).unwrap();
        assert!((judged.live_accuracy - 0.8).abs() < 1e-12);
        assert!((judged.majority_accuracy - 0.4).abs() < 1e-12);
        let score = judged.scores.live.unwrap();
        assert!((score.value - (0.8 - 0.4) / 0.6).abs() < 1e-12, "{}", score.value);
        assert_eq!(judged.composite.missing, ["walk_forward"]);
        assert_eq!(judged.composite.drift, Some(true), "0.667 live vs 0.333 backtest");
        // Right 8 times at +1 %, wrong twice: short into a -1 % bar earns +1 %, long loses.
        let backtest = judged.backtest.unwrap();
        assert_eq!(backtest.long_short.bars, 10);
        let expected = 1.01f64.powi(8) * 0.99f64.powi(2) - 1.0;
        assert!(
            (backtest.long_short.total_return - expected).abs() < 1e-12,
            "{}",
            backtest.long_short.total_return
        );
        assert!(backtest.persistence.is_none(), "live forecasts carry no past return");

        let few = live.judge(&pair("AAPL"), &record(Bearish), 11, &rule).unwrap();
        assert_eq!(few.scores.live, None, "ten forecasts are below a minimum of eleven");
        assert_eq!(few.composite.missing, ["walk_forward", "live"]);
        assert_eq!(few.composite.drift, None);
        assert!(live.judge(&pair("AAPL"), &ModelRecord::default(), 1, &rule).is_none(), "no scores to join");
    }

    #[test]
    fn the_consensus_is_scored_at_the_shortest_timeframes_outcomes() {
        let h1 = Pair { symbol: "AAPL".parse().unwrap(), timeframe: Timeframe::H1 };
        let signal = |pair: &Pair, day: u32, direction: Direction, horizon: usize| Signal {
            pair: pair.clone(),
            bar_ts: at(day),
            horizon,
            direction,
            probabilities: std::array::from_fn(|i| if i == direction.index() { 0.8 } else { 0.1 }),
        };
        // The daily forecast of day 1 (open 5 days) says BEARISH; the hourly ones BULLISH.
        let signals = vec![
            signal(&pair("AAPL"), 1, Bearish, 5),
            signal(&h1, 2, Bullish, 5),
            signal(&h1, 9, Bullish, 5),
        ];
        let scored =
            vec![scored(h1.clone(), "h", 2, Bullish, Bearish), scored(h1.clone(), "h", 9, Bullish, Bullish)];
        let records =
            consensus_records(&signals, &scored, &BTreeMap::new(), consensus::Rule::Duration, at(20));
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!(record.base, h1);
        // Day 2: the daily view outweighs the hourly (ln 1441 > ln 61): BEARISH, right where
        // the hourly was wrong. Day 9: the daily forecast's horizon has passed; alone, the
        // hourly makes no consensus.
        assert_eq!((record.scored, record.consensus_correct, record.base_correct), (1, 1, 0));
        assert!(record.latest.is_some());
    }
}
