//! `schedule`: the long-running scheduler that fires the fleet's triggers on cron
//! schedules (UTC): monthly training, daily forecasts, daily evaluation.
//!
//! A firing runs the same code as the command (`train`, `forecast`, `evaluate`) without
//! waiting for the run to finish; a firing that fails is logged and the scheduler carries on.
//! A firing missed while the scheduler was down is not caught up: the next one comes on time.

use crate::ProducerError;
use std::process::ExitCode;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use cron::Schedule;
use fleet::shutdown::Shutdown;

use crate::evaluate::{self, Evaluate};
use crate::trigger::{self, Connections, Forecast, Pairs, Services, Train};
use crate::wait::Wait;

/// A cron schedule (`sec min hour day-of-month month day-of-week`, UTC), or `off`.
#[derive(Debug, Clone)]
pub struct Cron(Option<Schedule>);

impl Cron {
    /// The schedule as written, for a default a person reads.
    fn every(text: &str) -> Self {
        text.parse().expect("a valid built-in schedule")
    }
}

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

/// When the scheduler fires, and the settings of what it fires.
#[derive(Debug, Clone)]
pub struct Scheduled {
    /// The services every firing uses, through connections opened at the first firing and
    /// kept for the next ones.
    pub services: Services,
    pub train_schedule: Cron,
    pub forecast_schedule: Cron,
    pub evaluate_schedule: Cron,
    /// How a training firing runs: every pair, not followed (its `pairs`, `wait` and
    /// `services` are not read).
    pub train: Train,
    /// How a forecast firing runs (idem).
    pub forecast: Forecast,
    /// How an evaluation firing judges (its `services` are not read).
    pub evaluate: Evaluate,
}

impl Default for Scheduled {
    /// Monthly training (the 1st, 06:00 UTC), daily forecasts (22:30) and evaluation (23:00).
    fn default() -> Self {
        Self {
            services: Services::default(),
            train_schedule: Cron::every("0 0 6 1 * *"),
            forecast_schedule: Cron::every("0 30 22 * * *"),
            evaluate_schedule: Cron::every("0 0 23 * * *"),
            train: Train::default(),
            forecast: Forecast::default(),
            evaluate: Evaluate::default(),
        }
    }
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

/// Fires the triggers on their schedules until `shutdown` is triggered.
pub async fn run(args: Scheduled, shutdown: &Shutdown) -> Result<ExitCode, ProducerError> {
    let schedules = [
        (Firing::Train, &args.train_schedule),
        (Firing::Forecast, &args.forecast_schedule),
        (Firing::Evaluate, &args.evaluate_schedule),
    ];
    let mut connections = None;
    let mut last = Utc::now();
    loop {
        let Some((at, due)) = next_firing(&schedules, last) else {
            return Err(ProducerError::Refused(
                "every schedule is off: nothing to run (set TRAIN_SCHEDULE, FORECAST_SCHEDULE or EVALUATE_SCHEDULE)"
                    .to_owned(),
            ));
        };
        tracing::info!(next = %at, triggers = ?due, "waiting for the next firing");
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.triggered() => return Ok(ExitCode::SUCCESS),
        }
        for firing in due {
            tracing::info!(?firing, "schedule fired");
            if let Err(error) = fire(firing, &args, &mut connections).await {
                tracing::error!(?firing, error = %error, "scheduled trigger failed; next firing as planned");
            }
        }
        // Never fire the same instant twice, even if the clock steps back.
        last = at.max(Utc::now());
    }
}

/// Runs one firing over the scheduler's connections, opened the first time (a server that
/// is down then fails this firing only; its pools reconnect by themselves after).
async fn fire(
    firing: Firing,
    args: &Scheduled,
    connections: &mut Option<Connections>,
) -> Result<ExitCode, ProducerError> {
    let connections = match connections {
        Some(connections) => connections,
        None => connections.insert(Connections::open(&args.services).await?),
    };
    match firing {
        Firing::Train => {
            let every_pair = Train { pairs: Pairs::default(), wait: Wait::default(), ..args.train.clone() };
            trigger::train_on(connections, &every_pair).await
        }
        Firing::Forecast => {
            let every_pair =
                Forecast { pairs: Pairs::default(), wait: Wait::default(), ..args.forecast.clone() };
            trigger::forecast_on(connections, &every_pair).await
        }
        Firing::Evaluate => evaluate::run_on(connections, &args.evaluate).await,
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
