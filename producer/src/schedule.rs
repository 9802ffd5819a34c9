//! `producer schedule`: the long-running scheduler that fires the fleet's triggers on cron
//! schedules (UTC): monthly training, daily forecasts, daily evaluation.
//!
//! A firing runs the same code as the command (`train`, `forecast`, `evaluate`) without
//! waiting for the run to finish; a firing that fails is logged and the scheduler carries on.
//! A firing missed while the scheduler was down is not caught up: the next one comes on time.

use std::process::ExitCode;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use clap::Args;
use cron::Schedule;
use fleet::config::TrainingArgs;
use fleet::lifecycle::DriftArgs;

use shared::model::consensus;

use crate::evaluate::{self, CompositeArgs, EvaluateArgs};
use crate::trigger::{self, ForecastArgs, PairArgs, Services, TrainArgs};
use crate::wait::WaitArgs;

/// A cron schedule (`sec min hour day-of-month month day-of-week`, UTC), or `off`.
#[derive(Debug, Clone)]
pub(crate) struct Cron(Option<Schedule>);

impl FromStr for Cron {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim().eq_ignore_ascii_case("off") {
            return Ok(Self(None));
        }
        Schedule::from_str(text).map(|schedule| Self(Some(schedule))).map_err(|e| {
            format!("{text:?} is not a cron schedule (sec min hour day month weekday) nor `off`: {e}")
        })
    }
}

#[derive(Debug, Args)]
pub(crate) struct ScheduleArgs {
    #[command(flatten)]
    services: Services,
    /// When every pair is trained; `off` disables it. Default: the 1st of the month, 06:00 UTC.
    #[arg(long, env = "TRAIN_SCHEDULE", default_value = "0 0 6 1 * *")]
    train_schedule: Cron,
    /// When every pair is forecast; `off` disables it. Default: daily, 22:30 UTC.
    #[arg(long, env = "FORECAST_SCHEDULE", default_value = "0 30 22 * * *")]
    forecast_schedule: Cron,
    /// When forecasts are scored and drift judged; `off` disables it. Default: daily, 23:00 UTC.
    #[arg(long, env = "EVALUATE_SCHEDULE", default_value = "0 0 23 * * *")]
    evaluate_schedule: Cron,
    /// Most recent bars sent with each forecast job.
    #[arg(long, default_value_t = 500)]
    bars: usize,
    #[command(flatten)]
    training: TrainingArgs,
    #[command(flatten)]
    drift: DriftArgs,
    #[command(flatten)]
    composite: CompositeArgs,
    /// How `evaluate` reconciles each symbol's timeframes: duration, majority or performance.
    #[arg(long, env = "CONSENSUS_RULE", default_value = "duration")]
    consensus_rule: consensus::Rule,
}

/// What a schedule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Firing {
    Train,
    Forecast,
    Evaluate,
}

/// The next time any schedule fires after `now`, and every trigger due then, in the order
/// train, forecast, evaluate. `None` when every schedule is off.
pub(crate) fn next_firing(
    schedules: &[(Firing, &Cron)],
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, Vec<Firing>)> {
    let upcoming: Vec<(DateTime<Utc>, Firing)> = schedules
        .iter()
        .filter_map(|(firing, cron)| Some((cron.0.as_ref()?.after(&now).next()?, *firing)))
        .collect();
    let at = upcoming.iter().map(|(at, _)| *at).min()?;
    Some((at, upcoming.into_iter().filter(|(time, _)| *time == at).map(|(_, firing)| firing).collect()))
}

pub(crate) async fn run(args: ScheduleArgs) -> anyhow::Result<ExitCode> {
    let schedules = [
        (Firing::Train, &args.train_schedule),
        (Firing::Forecast, &args.forecast_schedule),
        (Firing::Evaluate, &args.evaluate_schedule),
    ];
    let shutdown = fleet::shutdown_signal();
    tokio::pin!(shutdown);
    let mut last = Utc::now();
    loop {
        let Some((at, due)) = next_firing(&schedules, last) else {
            anyhow::bail!(
                "every schedule is off: nothing to run (set TRAIN_SCHEDULE, FORECAST_SCHEDULE or EVALUATE_SCHEDULE)"
            );
        };
        tracing::info!(next = %at, triggers = ?due, "waiting for the next firing");
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            result = &mut shutdown => {
                result?;
                return Ok(ExitCode::SUCCESS);
            }
        }
        for firing in due {
            tracing::info!(?firing, "schedule fired");
            if let Err(error) = fire(firing, &args).await {
                tracing::error!(
                    ?firing,
                    error = format!("{error:#}"),
                    "scheduled trigger failed; next firing as planned"
                );
            }
        }
        // Never fire the same instant twice, even if the clock steps back.
        last = at.max(Utc::now());
    }
}

async fn fire(firing: Firing, args: &ScheduleArgs) -> anyhow::Result<ExitCode> {
    let services = args.services.clone();
    let every_pair = PairArgs::default;
    let no_wait = WaitArgs::none();
    match firing {
        Firing::Train => {
            trigger::train(TrainArgs {
                pairs: every_pair(),
                services,
                training: args.training.clone(),
                force: false,
                wait: no_wait,
            })
            .await
        }
        Firing::Forecast => {
            trigger::forecast(ForecastArgs { pairs: every_pair(), services, bars: args.bars, wait: no_wait })
                .await
        }
        Firing::Evaluate => {
            evaluate::run(EvaluateArgs {
                services,
                drift: args.drift,
                composite: args.composite.clone(),
                consensus_rule: args.consensus_rule,
                training: args.training.clone(),
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(text: &str) -> Cron {
        text.parse().unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_default_schedules_fire_when_documented() {
        let (train, forecast, evaluate) = (cron("0 0 6 1 * *"), cron("0 30 22 * * *"), cron("0 0 23 * * *"));
        let all = [(Firing::Train, &train), (Firing::Forecast, &forecast), (Firing::Evaluate, &evaluate)];
        let now = at("2026-11-28T10:00:00Z");
        assert_eq!(next_firing(&all, now), Some((at("2026-11-28T22:30:00Z"), vec![Firing::Forecast])));
        assert_eq!(
            next_firing(&all, at("2026-11-28T22:30:00Z")),
            Some((at("2026-11-28T23:00:00Z"), vec![Firing::Evaluate]))
        );
        assert_eq!(
            next_firing(&all[..1], now),
            Some((at("2026-12-01T06:00:00Z"), vec![Firing::Train])),
            "monthly, 1st, 06:00 UTC"
        );
        assert_eq!(next_firing(&all[..1], at("2026-12-31T07:00:00Z")).unwrap().0, at("2027-01-01T06:00:00Z"));
    }

    #[test]
    fn schedules_due_together_fire_together_and_off_never_fires() {
        let (daily, off) = (cron("0 0 6 * * *"), cron("off"));
        let both = [(Firing::Train, &daily), (Firing::Forecast, &off), (Firing::Evaluate, &daily)];
        let (when, due) = next_firing(&both, at("2026-11-28T07:00:00Z")).unwrap();
        assert_eq!((when, due), (at("2026-11-29T06:00:00Z"), vec![Firing::Train, Firing::Evaluate]));
        assert_eq!(next_firing(&[(Firing::Train, &off)], at("2026-11-28T07:00:00Z")), None);
    }

    #[test]
    fn a_bad_schedule_is_refused_with_its_text() {
        let error = "every day".parse::<Cron>().unwrap_err();
        assert!(error.contains("every day"), "{error}");
    }
}
