//! One signal per symbol from the latest forecast of each of its timeframes (M15, H1, D1...),
//! by one of the original pipeline's three rules. Pure: forecasts in, a signal out.
//!
//! - `duration`: the timeframes' class probabilities averaged with weights that grow with
//!   the bar's length, `w = ln(1 + minutes)` (m15 2.8, h1 4.1, h4 5.5, d1 7.3): a daily view
//!   outweighs a 15-minute one without drowning it. The direction is the average's most
//!   probable class, the confidence its probability.
//! - `majority`: each timeframe votes its direction; the most votes win (a tie is NEUTRAL),
//!   and the confidence is the share of timeframes that voted for it.
//! - `performance`: as `duration`, with weights from each timeframe's recent live score
//!   (0 to 1, `None` where too few forecasts were scored); with no live score at all it
//!   falls back to `duration` and says so.

use serde::{Deserialize, Serialize};

use crate::bar::Timeframe;
use crate::labels::Direction;

/// How the timeframes are reconciled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    #[default]
    Duration,
    Majority,
    Performance,
}

impl Rule {
    /// The name `FromStr` reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Duration => "duration",
            Self::Majority => "majority",
            Self::Performance => "performance",
        }
    }
}

impl std::str::FromStr for Rule {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "duration" => Ok(Self::Duration),
            "majority" => Ok(Self::Majority),
            "performance" => Ok(Self::Performance),
            other => {
                Err(format!("unknown consensus rule {other:?}; expected duration, majority or performance"))
            }
        }
    }
}

/// One timeframe's latest forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub timeframe: Timeframe,
    pub direction: Direction,
    /// Class probabilities in [`Direction::ALL`] order.
    pub probabilities: [f64; 3],
    /// The timeframe's live score in [0, 1], if enough of its forecasts were scored.
    pub live_score: Option<f64>,
}

/// The reconciled signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consensus {
    pub direction: Direction,
    pub confidence: f64,
    /// The rule that was applied (`performance` falls back to `duration` without scores).
    pub rule: Rule,
    /// Each member's weight, normalised to sum to 1, in the members' order.
    pub weights: Vec<f64>,
    /// Share of members whose own direction is the consensus.
    pub agreement: f64,
}

/// The bar-length weight of the `duration` rule.
pub fn duration_weight(timeframe: Timeframe) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "minutes in a week are far below 2^52")]
    (1.0 + timeframe.duration().num_minutes() as f64).ln()
}

/// Reconciles `members` by `rule`; `None` without members.
pub fn reconcile(members: &[Member], rule: Rule) -> Option<Consensus> {
    if members.is_empty() {
        return None;
    }
    let (rule, weights) = match rule {
        Rule::Duration => (Rule::Duration, members.iter().map(|m| duration_weight(m.timeframe)).collect()),
        Rule::Majority => (Rule::Majority, vec![1.0; members.len()]),
        Rule::Performance => {
            let scores: Vec<f64> = members.iter().map(|m| m.live_score.unwrap_or(0.0).max(0.0)).collect();
            if scores.iter().sum::<f64>() > 0.0 {
                (Rule::Performance, scores)
            } else {
                (Rule::Duration, members.iter().map(|m| duration_weight(m.timeframe)).collect())
            }
        }
    };
    let total: f64 = weights.iter().sum();
    let weights: Vec<f64> = weights.iter().map(|w| w / total).collect();
    let (direction, confidence) = if rule == Rule::Majority {
        let mut votes = [0usize; 3];
        members.iter().for_each(|m| votes[m.direction.index()] += 1);
        let most = *votes.iter().max().expect("three classes");
        let winners: Vec<Direction> =
            Direction::ALL.into_iter().filter(|d| votes[d.index()] == most).collect();
        let direction = if let [only] = winners[..] { only } else { Direction::Neutral };
        #[expect(clippy::cast_precision_loss, reason = "a handful of timeframes")]
        (direction, votes[direction.index()] as f64 / members.len() as f64)
    } else {
        let mut average = [0.0; 3];
        for (member, weight) in members.iter().zip(&weights) {
            for (sum, p) in average.iter_mut().zip(member.probabilities) {
                *sum += weight * p;
            }
        }
        let direction = super::ensemble::argmax(&average);
        (direction, average[direction.index()])
    };
    #[expect(clippy::cast_precision_loss, reason = "a handful of timeframes")]
    let agreement = members.iter().filter(|m| m.direction == direction).count() as f64 / members.len() as f64;
    Some(Consensus { direction, confidence, rule, weights, agreement })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(timeframe: Timeframe, probabilities: [f64; 3], live_score: Option<f64>) -> Member {
        Member {
            timeframe,
            direction: super::super::ensemble::argmax(&probabilities),
            probabilities,
            live_score,
        }
    }

    #[test]
    fn each_rule_reconciles_the_timeframes_its_own_way() {
        // m15 and h1 lean bearish a little, d1 is strongly bullish.
        let members = [
            member(Timeframe::M15, [0.5, 0.3, 0.2], Some(0.9)),
            member(Timeframe::H1, [0.5, 0.3, 0.2], Some(0.8)),
            member(Timeframe::D1, [0.05, 0.05, 0.9], Some(0.05)),
        ];
        let majority = reconcile(&members, Rule::Majority).unwrap();
        assert_eq!((majority.direction, majority.confidence), (Direction::Bearish, 2.0 / 3.0));

        let duration = reconcile(&members, Rule::Duration).unwrap();
        let w: Vec<f64> = [15.0_f64, 60.0, 1440.0].iter().map(|m| (1.0 + m).ln()).collect();
        let total: f64 = w.iter().sum();
        let bullish = (w[0] * 0.2 + w[1] * 0.2 + w[2] * 0.9) / total;
        assert_eq!(duration.direction, Direction::Bullish, "the daily view weighs most");
        assert!((duration.confidence - bullish).abs() < 1e-12);
        assert!((duration.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((duration.agreement - 1.0 / 3.0).abs() < 1e-12);

        let performance = reconcile(&members, Rule::Performance).unwrap();
        assert_eq!(performance.direction, Direction::Bearish, "the timeframes that scored live lead");
        assert_eq!(performance.rule, Rule::Performance);
    }

    #[test]
    fn performance_without_live_scores_falls_back_to_duration_and_ties_are_neutral() {
        let members =
            [member(Timeframe::H1, [0.6, 0.2, 0.2], None), member(Timeframe::D1, [0.2, 0.2, 0.6], None)];
        let fallback = reconcile(&members, Rule::Performance).unwrap();
        assert_eq!(fallback, reconcile(&members, Rule::Duration).unwrap());
        assert_eq!(reconcile(&members, Rule::Majority).unwrap().direction, Direction::Neutral);
        assert_eq!(reconcile(&[], Rule::Duration), None);
    }
}
