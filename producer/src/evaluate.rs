//! `producer evaluate`: score past forecasts against the bars that followed them, and watch
//! each pair's live accuracy for drift.
//!
//! A forecast is scored once the bar `horizon` bars after it exists, with the label rule
//! (horizon and threshold) its model was trained on. Live accuracy is the share of correct
//! forecasts of the pair's current model over a rolling window of bar time; drift is judged
//! by [`DriftArgs::judge`]. A drifting model raises one alert (a `drift_alerts` row and a
//! warning) and one retraining job; the next alert waits for the next model.
//!
//! Like every trigger, this writes nothing to the database itself: outcomes and alerts travel to
//! the collector as results.

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;

use chrono::{DateTime, Duration, Utc};
use clap::Args;
use fleet::config::TrainingArgs;
use fleet::lifecycle::DriftArgs;
use fleet::store::ArtifactStore;
use shared::job::{DriftAlert, ForecastOutcome, JobResult, Outcome, Pair};
use shared::labels::LabelConfig;

use crate::db;
use crate::trigger::{Services, Training, Trigger};

#[derive(Debug, Args)]
pub(crate) struct EvaluateArgs {
    #[command(flatten)]
    pub(crate) services: Services,
    #[command(flatten)]
    pub(crate) drift: DriftArgs,
    /// The configuration of the retraining jobs a drift alert enqueues.
    #[command(flatten)]
    pub(crate) training: TrainingArgs,
}

/// A forecast whose horizon has passed, with the closes that score it.
#[derive(Debug, Clone)]
pub(crate) struct DueForecast {
    pub(crate) job_id: String,
    pub(crate) pair: Pair,
    pub(crate) artifact_version: Option<String>,
    pub(crate) bar_ts: DateTime<Utc>,
    pub(crate) horizon: usize,
    pub(crate) predicted: shared::labels::Direction,
    /// `None` for forecasts recorded before the threshold was: the timeframe's default.
    pub(crate) threshold: Option<f64>,
    pub(crate) close_at: f64,
    pub(crate) close_after: f64,
    pub(crate) realized_at: DateTime<Utc>,
}

impl DueForecast {
    fn score(self) -> ForecastOutcome {
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
        }
    }
}

/// One scored forecast, as live accuracy needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scored {
    pub(crate) forecast_job_id: String,
    pub(crate) pair: Pair,
    pub(crate) artifact_version: Option<String>,
    pub(crate) bar_ts: DateTime<Utc>,
    pub(crate) correct: bool,
}

/// A pair's live record: its current model (the one of its most recent scored forecast) and
/// that model's forecasts in the window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Live {
    pub(crate) artifact_version: Option<String>,
    pub(crate) correct: usize,
    pub(crate) evaluated: usize,
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
        let of_model = scored.iter().filter(|s| &s.pair == pair && &s.artifact_version == version);
        let (correct, evaluated) =
            of_model.fold((0, 0), |(correct, n), s| (correct + usize::from(s.correct), n + 1));
        live.insert(pair.clone(), Live { artifact_version: version.clone(), correct, evaluated });
    }
    live
}

pub(crate) async fn run(args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let store = ArtifactStore::open(&args.services.store)?;
    let trigger = Trigger::open(&args.services.database, &args.services.queue).await?;
    let now = Utc::now();

    let due = db::due_forecasts(&trigger.database).await?;
    let outcomes: Vec<ForecastOutcome> = due.into_iter().map(DueForecast::score).collect();
    let results: Vec<JobResult> =
        outcomes.iter().map(|outcome| trigger.result(Outcome::ForecastOutcome(outcome.clone()))).collect();
    trigger.results.publish(&results).await?;
    println!("{} forecasts scored", outcomes.len());

    // The collector may not have written the new outcomes yet: they join the recorded ones.
    let window_start = now - Duration::days(args.drift.drift_window_days.into());
    // Keyed by forecast: the collector may have written some of them already.
    let mut scored: BTreeMap<String, Scored> = db::scored_forecasts(&trigger.database, window_start)
        .await?
        .into_iter()
        .map(|s| (s.forecast_job_id.clone(), s))
        .collect();
    scored.extend(outcomes.iter().filter(|o| o.bar_ts >= window_start).map(|o| {
        let s = Scored {
            forecast_job_id: o.forecast_job_id.clone(),
            pair: o.pair.clone(),
            artifact_version: o.artifact_version.clone(),
            bar_ts: o.bar_ts,
            correct: o.predicted == o.realized,
        };
        (s.forecast_job_id.clone(), s)
    }));
    let scored: Vec<Scored> = scored.into_values().collect();
    let alerted: HashSet<(Pair, Option<String>)> =
        db::drift_alerted(&trigger.database).await?.into_iter().collect();

    println!(
        "{:<10} {:<4} {:<30} {:>9} {:>6} {:>10}  DRIFT",
        "SYMBOL", "TF", "MODEL", "EVALUATED", "LIVE", "VALIDATION"
    );
    let mut alerts = Vec::new();
    for (pair, live) in live_accuracy(&scored) {
        let validation = match &live.artifact_version {
            Some(version) => db::validation_accuracy(&trigger.database, version).await?,
            None => None,
        };
        let drift = validation.and_then(|v| args.drift.judge(live.correct, live.evaluated, v));
        #[expect(clippy::cast_precision_loss, reason = "forecast counts are far below 2^52")]
        let live_share = live.correct as f64 / live.evaluated as f64;
        println!(
            "{:<10} {:<4} {:<30} {:>9} {:>6.3} {:>10}  {}",
            pair.symbol.as_str(),
            pair.timeframe.as_str(),
            live.artifact_version.as_deref().unwrap_or("-"),
            live.evaluated,
            live_share,
            validation.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}")),
            if drift.is_some() { "yes" } else { "" },
        );
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
    trigger.results.publish(&alerts).await?;
    println!("run {}: {} drift alerts", trigger.run_id, alerts.len());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use shared::Timeframe;
    use shared::labels::Direction;

    use super::*;

    fn pair(symbol: &str) -> Pair {
        Pair { symbol: symbol.parse().unwrap(), timeframe: Timeframe::D1 }
    }

    fn due(predicted: Direction, close_after: f64, threshold: Option<f64>) -> DueForecast {
        DueForecast {
            job_id: "f".to_owned(),
            pair: pair("AAPL"),
            artifact_version: Some("v1".to_owned()),
            bar_ts: "2026-01-05T00:00:00Z".parse().unwrap(),
            horizon: 5,
            predicted,
            threshold,
            close_at: 100.0,
            close_after,
            realized_at: "2026-01-12T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_forecast_is_scored_with_its_models_label_rule() {
        let outcome = due(Direction::Bullish, 101.0, Some(0.009)).score();
        assert_eq!(outcome.realized, Direction::Bullish, "+1 % beats 0.9 %");
        assert!((outcome.realized_return - 0.01).abs() < 1e-12);
        assert_eq!(due(Direction::Bullish, 101.0, Some(0.02)).score().realized, Direction::Neutral);
        assert_eq!(
            due(Direction::Bearish, 98.0, None).score().realized,
            Direction::Bearish,
            "d1 default 0.9 %"
        );
    }

    #[test]
    fn live_accuracy_counts_only_the_current_model_of_each_pair() {
        let at = |day: u32| format!("2026-01-{day:02}T00:00:00Z").parse().unwrap();
        let scored = |symbol: &str, version: &str, day: u32, correct: bool| Scored {
            forecast_job_id: format!("{symbol}-{version}-{day}"),
            pair: pair(symbol),
            artifact_version: Some(version.to_owned()),
            bar_ts: at(day),
            correct,
        };
        let live = live_accuracy(&[
            scored("AAPL", "old", 1, false),
            scored("AAPL", "old", 2, false),
            scored("AAPL", "new", 3, true),
            scored("AAPL", "new", 4, false),
            scored("MSFT", "m", 1, true),
        ]);
        assert_eq!(
            live[&pair("AAPL")],
            Live { artifact_version: Some("new".to_owned()), correct: 1, evaluated: 2 }
        );
        assert_eq!(
            live[&pair("MSFT")],
            Live { artifact_version: Some("m".to_owned()), correct: 1, evaluated: 1 }
        );
    }
}
