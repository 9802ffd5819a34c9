//! The rules of a model's life: when it may serve forecasts (expiry), when it replaces the
//! current model (promotion), and when it may be deleted (retention).
//!
//! Pure functions of their inputs and a clock, so that each rule is tested at its boundary;
//! the store and the worker apply them.

use chrono::{DateTime, Duration, Utc};
use ml_core::model::Evaluation;

/// Accuracies closer than this are equal: `0.65 - 0.50` is `0.15000000000000002`.
const ACCURACY_EPSILON: f64 = 1e-9;

/// A model too old to forecast with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "model {version} is {age_days:.1} days old, over the {limit_days}-day limit: retrain it with `boltfleet train`"
)]
pub struct Expired {
    pub version: String,
    pub age_days: f64,
    pub limit_days: i64,
}

/// A model may forecast until it is exactly `max_age` old, not a moment after.
pub fn check_age(
    version: &str,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
    max_age: Duration,
) -> Result<(), Expired> {
    let age = now - created_at;
    if age > max_age {
        #[expect(clippy::cast_precision_loss, reason = "ages in seconds are far below 2^52")]
        let age_days = age.num_seconds() as f64 / 86_400.0;
        return Err(Expired { version: version.to_owned(), age_days, limit_days: max_age.num_days() });
    }
    Ok(())
}

/// When a newly trained model becomes `latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromotionRule {
    /// Every new model replaces the current one.
    Always,
    /// Only if its validation accuracy is not below the current model's by more than the
    /// tolerance; otherwise it is kept as a candidate.
    NotWorse,
}

impl PromotionRule {
    const NAMES: [(Self, &'static str); 2] = [(Self::Always, "always"), (Self::NotWorse, "not-worse")];
}

impl std::fmt::Display for PromotionRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = Self::NAMES.iter().find(|(rule, _)| rule == self).map_or("", |(_, name)| name);
        f.write_str(name)
    }
}

impl std::str::FromStr for PromotionRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::NAMES
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(rule, _)| *rule)
            .ok_or_else(|| format!("{text:?} is not a promotion rule: always or not-worse"))
    }
}

/// The promotion settings of the workers.
#[derive(Debug, Clone, Copy)]
pub struct PromotionPolicy {
    /// When a new model becomes `latest`.
    pub promotion_rule: PromotionRule,
    /// Validation accuracy (0 to 1) a new model may lose against the current one and still
    /// be promoted under `not-worse`.
    pub promotion_tolerance: f64,
}

impl Default for PromotionPolicy {
    fn default() -> Self {
        Self { promotion_rule: PromotionRule::NotWorse, promotion_tolerance: 0.0 }
    }
}

impl PromotionPolicy {
    /// `Err` with the reason when the candidate must not replace the incumbent. Each model
    /// is judged by the ensemble accuracy on its own validation rows (the last rows of the
    /// data it was trained on).
    pub fn judge(
        &self,
        candidate: &Evaluation,
        incumbent: &Evaluation,
        incumbent_version: &str,
    ) -> Result<(), String> {
        self.judge_accuracy(
            candidate.ensemble.validation.accuracy.value,
            incumbent.ensemble.validation.accuracy.value,
            incumbent_version,
        )
    }

    fn judge_accuracy(&self, new: f64, current: f64, incumbent_version: &str) -> Result<(), String> {
        match self.promotion_rule {
            PromotionRule::Always => Ok(()),
            PromotionRule::NotWorse if new + ACCURACY_EPSILON >= current - self.promotion_tolerance => Ok(()),
            PromotionRule::NotWorse => Err(format!(
                "kept as a candidate: validation accuracy {new:.3} is below {current:.3} of the current model \
                 {incumbent_version} by more than the tolerance {:.3}",
                self.promotion_tolerance
            )),
        }
    }
}

/// The drift rule's settings: when live accuracy is low enough, on enough forecasts, to
/// alert and retrain.
#[derive(Debug, Clone, Copy)]
pub struct DriftPolicy {
    /// Alert when live accuracy is below the model's validation accuracy by more than this
    /// (0.15 = 15 points).
    pub drift_max_drop: f64,
    /// Evaluated forecasts needed in the window before drift is judged at all.
    pub drift_min_forecasts: usize,
    /// The rolling window of live accuracy, in days of forecast bar time.
    pub drift_window_days: u32,
}

impl Default for DriftPolicy {
    /// The original pipeline's rule: 15 points down on 20 forecasts of the last 30 days.
    fn default() -> Self {
        Self { drift_max_drop: 0.15, drift_min_forecasts: 20, drift_window_days: 30 }
    }
}

/// Live accuracy that fell too far below what validation promised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    pub live_accuracy: f64,
    pub validation_accuracy: f64,
    pub evaluated: usize,
}

impl DriftPolicy {
    /// `Some` when `correct / evaluated` is below `validation_accuracy` by more than the
    /// allowed drop and at least the minimum number of forecasts were evaluated.
    pub fn judge(&self, correct: usize, evaluated: usize, validation_accuracy: f64) -> Option<Drift> {
        if evaluated == 0 || evaluated < self.drift_min_forecasts {
            return None;
        }
        #[expect(clippy::cast_precision_loss, reason = "forecast counts are far below 2^52")]
        let live_accuracy = correct as f64 / evaluated as f64;
        // A drop of exactly the threshold is tolerated, whatever the float rounding.
        (validation_accuracy - live_accuracy > self.drift_max_drop + ACCURACY_EPSILON).then_some(Drift {
            live_accuracy,
            validation_accuracy,
            evaluated,
        })
    }
}

/// Whether a version may be deleted by `prune`: older than the cutoff and not `latest`.
pub fn prunable(created_at: DateTime<Utc>, may_be_latest: bool, cutoff: DateTime<Utc>) -> bool {
    !may_be_latest && created_at < cutoff
}

/// `90d`, `12h`, `30m` or `45s`: the ages the command line takes.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not an age: write a number and a unit, e.g. 90d, 12h, 30m");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| invalid())?;
    match unit {
        "d" => Ok(Duration::days(number)),
        "h" => Ok(Duration::hours(number)),
        "m" => Ok(Duration::minutes(number)),
        "s" => Ok(Duration::seconds(number)),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_model_expires_just_after_its_maximum_age() {
        let created = at("2026-01-01T00:00:00Z");
        let limit = Duration::days(60);
        assert_eq!(check_age("v", created, created + limit, limit), Ok(()));
        let expired = check_age("v", created, created + limit + Duration::seconds(1), limit).unwrap_err();
        assert_eq!(expired.limit_days, 60);
        let message = expired.to_string();
        assert!(message.contains("60.0 days old, over the 60-day limit: retrain"), "{message}");
        assert_eq!(check_age("v", created, created + Duration::days(1), limit), Ok(()));
    }

    #[test]
    fn not_worse_promotes_within_the_tolerance_only() {
        let strict = PromotionPolicy::default();
        assert_eq!(strict.judge_accuracy(0.50, 0.50, "v1"), Ok(()));
        assert_eq!(strict.judge_accuracy(0.51, 0.50, "v1"), Ok(()));
        let refused = strict.judge_accuracy(0.49, 0.50, "v1").unwrap_err();
        assert!(
            refused.contains("candidate") && refused.contains("0.490") && refused.contains("v1"),
            "{refused}"
        );
        let tolerant = PromotionPolicy { promotion_tolerance: 0.02, ..strict };
        assert_eq!(tolerant.judge_accuracy(0.49, 0.50, "v1"), Ok(()));
        assert!(tolerant.judge_accuracy(0.47, 0.50, "v1").is_err());
    }

    #[test]
    fn promotion_rules_read_back_as_they_are_written() {
        for rule in [PromotionRule::Always, PromotionRule::NotWorse] {
            assert_eq!(rule.to_string().parse::<PromotionRule>(), Ok(rule));
        }
        assert!("sometimes".parse::<PromotionRule>().unwrap_err().contains("always or not-worse"));
    }

    #[test]
    fn always_promotes_a_worse_model() {
        let always = PromotionPolicy { promotion_rule: PromotionRule::Always, promotion_tolerance: 0.0 };
        assert_eq!(always.judge_accuracy(0.1, 0.9, "v1"), Ok(()));
    }

    #[test]
    fn drift_needs_a_drop_beyond_the_threshold_on_enough_forecasts() {
        let rule = DriftPolicy::default();
        // 20 forecasts, validation 0.60: 0.45 is exactly 15 points down (no alert), 0.40 is 20.
        assert_eq!(rule.judge(9, 20, 0.60), None, "a drop of exactly the threshold is tolerated");
        let drift = rule.judge(8, 20, 0.60).expect("20 points down on 20 forecasts");
        assert_eq!((drift.live_accuracy, drift.evaluated), (0.40, 20));
        assert_eq!(rule.judge(0, 19, 0.60), None, "19 forecasts are too few to judge");
        assert_eq!(rule.judge(0, 0, 0.60), None);
        let strict = DriftPolicy { drift_max_drop: 0.05, drift_min_forecasts: 5, ..rule };
        assert!(strict.judge(3, 6, 0.60).is_some(), "0.50 is 10 points down");
        assert_eq!(rule.judge(10, 20, 0.65), None, "0.65 - 0.50 rounds above 0.15 but is exactly 15 points");
        assert!(
            DriftPolicy { drift_min_forecasts: 0, ..rule }.judge(0, 0, 0.9).is_none(),
            "nothing evaluated, nothing judged"
        );
    }

    #[test]
    fn prune_takes_old_versions_but_never_latest() {
        let cutoff = at("2026-06-01T00:00:00Z");
        assert!(prunable(at("2026-05-31T23:59:59Z"), false, cutoff));
        assert!(!prunable(at("2026-05-31T23:59:59Z"), true, cutoff), "latest is never pruned");
        assert!(!prunable(cutoff, false, cutoff), "exactly at the cutoff is kept");
        assert!(!prunable(at("2026-07-01T00:00:00Z"), false, cutoff));
    }

    #[test]
    fn ages_parse_with_their_unit() {
        assert_eq!(parse_age("90d"), Ok(Duration::days(90)));
        assert_eq!(parse_age("12h"), Ok(Duration::hours(12)));
        assert_eq!(parse_age("0s"), Ok(Duration::zero()));
        for bad in ["90", "d", "9x", "-1d", ""] {
            assert!(parse_age(bad).is_err(), "{bad} parsed");
        }
    }
}
