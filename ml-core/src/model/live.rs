//! A model judged on its live forecasts, the pure rules of `boltfleet evaluate`: a due
//! forecast scored with its model's label rule, each pair's live record (its current model's
//! scored forecasts), the live score and composite over them with the backtest of the
//! realised signals, and each symbol's consensus across its timeframes, scored at the
//! outcomes of its shortest one. The fleet reads the rows and writes the results; what they
//! mean is decided here, in one place, for every caller.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::Symbol;
use crate::job::{ForecastOutcome, LiveScore, Pair};
use crate::labels::{Direction, LabelConfig};
use crate::model::backtest::{self, Backtest, DEFAULT_COST_BPS, Market};
use crate::model::consensus::{self, Member};
use crate::model::metrics::Proportion;
use crate::model::scores::{CompositeRule, Score, Scores};

/// A forecast whose horizon has passed, with the closes that score it.
#[derive(Debug, Clone)]
pub struct DueForecast {
    pub job_id: String,
    pub pair: Pair,
    pub artifact_version: Option<String>,
    pub bar_ts: DateTime<Utc>,
    pub horizon: usize,
    pub predicted: Direction,
    /// `None` for forecasts recorded before the threshold was: the timeframe's default.
    pub threshold: Option<f64>,
    pub close_at: f64,
    /// The close of the bar after the forecast's (`None` if it is the horizon's own and
    /// missing, which cannot happen once the horizon bar exists).
    pub close_next: Option<f64>,
    pub close_after: f64,
    pub realized_at: DateTime<Utc>,
}

impl DueForecast {
    /// The forecast's outcome, labelled with the rule its model was trained on.
    pub fn score(self) -> ForecastOutcome {
        let threshold =
            self.threshold.unwrap_or_else(|| LabelConfig::for_timeframe(self.pair.timeframe).threshold);
        let rule = LabelConfig { horizon: self.horizon, threshold };
        let realized_return = self.close_after / self.close_at - 1.0;
        ForecastOutcome {
            forecast_job_id: self.job_id,
            pair: self.pair,
            artifact_version: self.artifact_version,
            bar_ts: self.bar_ts,
            horizon: self.horizon,
            predicted: self.predicted,
            realized: rule.classify(realized_return),
            realized_return,
            realized_at: self.realized_at,
            next_return: self.close_next.map(|next| next / self.close_at - 1.0),
        }
    }
}

/// One scored forecast, as the live judgement needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub forecast_job_id: String,
    pub pair: Pair,
    pub artifact_version: Option<String>,
    pub bar_ts: DateTime<Utc>,
    pub predicted: Direction,
    pub realized: Direction,
    pub next_return: Option<f64>,
}

impl Scored {
    pub fn of_outcome(outcome: &ForecastOutcome) -> Self {
        Self {
            forecast_job_id: outcome.forecast_job_id.clone(),
            pair: outcome.pair.clone(),
            artifact_version: outcome.artifact_version.clone(),
            bar_ts: outcome.bar_ts,
            predicted: outcome.predicted,
            realized: outcome.realized,
            next_return: outcome.next_return,
        }
    }

    pub fn correct(&self) -> bool {
        self.predicted == self.realized
    }
}

/// A trained model's forecast, as the consensus needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub pair: Pair,
    pub bar_ts: DateTime<Utc>,
    pub horizon: usize,
    pub direction: Direction,
    pub probabilities: [f64; 3],
}

impl Signal {
    /// Whether the forecast still speaks at `at`: made by then, its horizon not yet past.
    pub fn open_at(&self, at: DateTime<Utc>) -> bool {
        let horizon = i32::try_from(self.horizon).unwrap_or(i32::MAX);
        self.bar_ts <= at && at < self.bar_ts + self.pair.timeframe.duration() * horizon
    }
}

/// What a model's training run recorded that the live judgement needs; all `None` for a run
/// not found or recorded before the field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelRecord {
    pub validation_accuracy: Option<f64>,
    pub majority_class: Option<Direction>,
    pub scores: Option<Scores>,
    pub bars_per_year: Option<f64>,
    pub cost_bps: Option<f64>,
}

/// A pair's live record: its current model (the one of its most recent scored forecast) and
/// that model's scored forecasts in the window, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub artifact_version: Option<String>,
    pub outcomes: Vec<Scored>,
}

impl Live {
    pub fn correct(&self) -> usize {
        self.outcomes.iter().filter(|o| o.correct()).count()
    }

    pub fn evaluated(&self) -> usize {
        self.outcomes.len()
    }

    /// The live score, the composite over it and the training run's scores, and the backtest
    /// of the realised signals; `None` for a model whose run recorded no scores.
    pub fn judge(
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
pub fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// Live accuracy per pair from the scored forecasts in the window.
pub fn live_accuracy(scored: &[Scored]) -> BTreeMap<Pair, Live> {
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
pub struct ConsensusRecord {
    /// The shortest timeframe, whose outcomes score the consensus.
    pub base: Pair,
    /// Outcomes scored with at least one other timeframe's forecast open.
    pub scored: usize,
    pub consensus_correct: usize,
    /// The base timeframe's own forecasts on the same outcomes.
    pub base_correct: usize,
    /// The consensus of the latest forecasts, and how many timeframes it reconciles.
    pub latest: Option<(consensus::Consensus, usize)>,
}

/// The members of `symbol`'s consensus at `at`: per timeframe, its latest forecast still open.
fn members_at(
    signals: &[Signal],
    symbol: &Symbol,
    at: DateTime<Utc>,
    live_scores: &BTreeMap<Pair, f64>,
) -> Vec<Member> {
    let mut latest: BTreeMap<crate::Timeframe, &Signal> = BTreeMap::new();
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
pub fn consensus_records(
    signals: &[Signal],
    scored: &[Scored],
    live_scores: &BTreeMap<Pair, f64>,
    rule: consensus::Rule,
    now: DateTime<Utc>,
) -> Vec<ConsensusRecord> {
    let mut timeframes: BTreeMap<&Symbol, std::collections::BTreeSet<crate::Timeframe>> = BTreeMap::new();
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

#[cfg(test)]
mod tests {
    use crate::Timeframe;
    use crate::labels::Direction::{self, Bearish, Bullish, Neutral};

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
