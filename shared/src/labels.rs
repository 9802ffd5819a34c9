//! 3-class direction labels from the forward return over a per-timeframe horizon.
//!
//! The label is the only thing in the pipeline that looks ahead, by design: row t's label uses
//! `close[t + horizon]`, so the last `horizon` rows have none and never train.

use polars::prelude::{Column, DataFrame, PolarsResult};
use serde::{Deserialize, Serialize};

use crate::bar::Timeframe;

/// Column names that [`append_labels`] adds.
pub const FORWARD_RETURN_COLUMN: &str = "forward_return";
pub const LABEL_COLUMN: &str = "label";

/// The direction a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Direction {
    Bearish,
    Neutral,
    Bullish,
}

impl Direction {
    /// Class order for models and probability vectors.
    pub const ALL: [Self; 3] = [Self::Bearish, Self::Neutral, Self::Bullish];

    /// BEARISH -1, NEUTRAL 0, BULLISH +1: the encoding the ensemble weights are fitted on.
    pub fn score(self) -> i8 {
        match self {
            Self::Bearish => -1,
            Self::Neutral => 0,
            Self::Bullish => 1,
        }
    }

    /// Position in [`Direction::ALL`].
    pub fn index(self) -> usize {
        match self {
            Self::Bearish => 0,
            Self::Neutral => 1,
            Self::Bullish => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bearish => "BEARISH",
            Self::Neutral => "NEUTRAL",
            Self::Bullish => "BULLISH",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = String;

    /// `BULLISH`, `NEUTRAL` or `BEARISH`, as stored.
    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|direction| direction.as_str() == text)
            .ok_or_else(|| format!("{text:?} is not a direction: BULLISH, NEUTRAL or BEARISH"))
    }
}

/// How far ahead a label looks and how large a move must be to count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LabelConfig {
    /// Bars ahead.
    pub horizon: usize,
    /// The return beyond which a move is BULLISH or BEARISH (0.009 = 0.9 %).
    pub threshold: f64,
}

impl LabelConfig {
    /// The original pipeline's defaults: m15 5 / 0.2 %, h1 5 / 0.3 %, h4 3 / 0.5 %, d1 5 / 0.9 %.
    /// Timeframes it did not have borrow the nearest (m1, m5, m30 take m15's); w1 looks 2 weeks
    /// ahead for a 2 % move.
    pub fn for_timeframe(timeframe: Timeframe) -> Self {
        let (horizon, threshold) = match timeframe {
            Timeframe::M1 | Timeframe::M5 | Timeframe::M15 | Timeframe::M30 => (5, 0.002),
            Timeframe::H1 => (5, 0.003),
            Timeframe::H4 => (3, 0.005),
            Timeframe::D1 => (5, 0.009),
            Timeframe::W1 => (2, 0.02),
        };
        Self { horizon, threshold }
    }

    /// The label of a forward return.
    pub fn classify(&self, forward_return: f64) -> Direction {
        if forward_return > self.threshold {
            Direction::Bullish
        } else if forward_return < -self.threshold {
            Direction::Bearish
        } else {
            Direction::Neutral
        }
    }

    /// `close[t + horizon] / close[t] - 1` for every row; `None` for the last `horizon` rows.
    pub fn forward_returns(&self, closes: &[f64]) -> Vec<Option<f64>> {
        (0..closes.len())
            .map(|t| closes.get(t + self.horizon).map(|future| future / closes[t] - 1.0))
            .collect()
    }

    /// The label of every row; `None` for the last `horizon` rows.
    pub fn labels(&self, closes: &[f64]) -> Vec<Option<Direction>> {
        self.forward_returns(closes).into_iter().map(|r| r.map(|r| self.classify(r))).collect()
    }
}

/// Adds [`FORWARD_RETURN_COLUMN`] and [`LABEL_COLUMN`] (`BULLISH`, `NEUTRAL`, `BEARISH`, or
/// null for the last `horizon` rows) to a frame with a `close` column.
pub fn append_labels(mut frame: DataFrame, config: &LabelConfig) -> PolarsResult<DataFrame> {
    let closes: Vec<f64> = frame.column("close")?.f64()?.into_no_null_iter().collect();
    let forward = config.forward_returns(&closes);
    let labels: Vec<Option<&str>> = forward.iter().map(|r| r.map(|r| config.classify(r).as_str())).collect();
    frame.with_column(Column::new(FORWARD_RETURN_COLUMN.into(), forward))?;
    frame.with_column(Column::new(LABEL_COLUMN.into(), labels))?;
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_forward_return_and_threshold() {
        let config = LabelConfig { horizon: 2, threshold: 0.01 };
        let closes = [100.0, 100.0, 102.0, 100.5, 99.0];
        assert_eq!(
            config.labels(&closes),
            [Some(Direction::Bullish), Some(Direction::Neutral), Some(Direction::Bearish), None, None]
        );
        // Exactly at the threshold is NEUTRAL: the rule is strict.
        assert_eq!(config.classify(0.01), Direction::Neutral);
        assert_eq!(config.classify(-0.010_000_1), Direction::Bearish);
    }

    #[test]
    fn defaults_are_the_original_pipelines() {
        let d1 = LabelConfig::for_timeframe(Timeframe::D1);
        assert_eq!((d1.horizon, d1.threshold), (5, 0.009));
        let h4 = LabelConfig::for_timeframe(Timeframe::H4);
        assert_eq!((h4.horizon, h4.threshold), (3, 0.005));
        let h1 = LabelConfig::for_timeframe(Timeframe::H1);
        assert_eq!((h1.horizon, h1.threshold), (5, 0.003));
        let m15 = LabelConfig::for_timeframe(Timeframe::M15);
        assert_eq!((m15.horizon, m15.threshold), (5, 0.002));
    }

    #[test]
    fn direction_encodings_are_consistent() {
        for (i, direction) in Direction::ALL.into_iter().enumerate() {
            assert_eq!(direction.index(), i);
            assert_eq!(i64::from(direction.score()), i64::try_from(i).unwrap() - 1);
        }
        assert_eq!(serde_json::to_string(&Direction::Bullish).unwrap(), "\"BULLISH\"");
    }
}
