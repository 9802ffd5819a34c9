//! The vocabulary every crate speaks: a [`Bar`], the [`Timeframe`] it covers and the
//! [`Symbol`] it belongs to.
//!
//! A `Symbol` is validated on construction, so a value of that type is always safe to put in a
//! Redis key, an object-store path or a SQL bind parameter.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// One OHLCV bar. `ts` is the bar's opening time, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub ts: DateTime<Utc>,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// The longest symbol we accept; real tickers (`BRK.B`, `^GSPC`, `EURUSD=X`, `BTC-USD`) are far
/// shorter, and the limit keeps keys and paths bounded.
pub const MAX_SYMBOL_LEN: usize = 20;

/// A validated, upper-cased ticker.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Symbol(String);

/// Why a string is not a [`Symbol`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    #[error("symbol is empty")]
    Empty,
    #[error("symbol {symbol:?} is longer than {MAX_SYMBOL_LEN} characters")]
    TooLong { symbol: String },
    #[error("symbol {symbol:?} contains {character:?}; allowed are letters, digits and . - ^ = /")]
    BadCharacter { symbol: String, character: char },
    #[error("symbol {symbol:?} must start with a letter, a digit or ^")]
    BadStart { symbol: String },
}

impl Symbol {
    /// Validates and upper-cases `raw` (surrounding white space is trimmed).
    pub fn new(raw: &str) -> Result<Self, SymbolError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(SymbolError::Empty);
        }
        if trimmed.chars().count() > MAX_SYMBOL_LEN {
            return Err(SymbolError::TooLong { symbol: trimmed.to_owned() });
        }
        if let Some(character) =
            trimmed.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '^' | '=' | '/')))
        {
            return Err(SymbolError::BadCharacter { symbol: trimmed.to_owned(), character });
        }
        // A leading `.` or `/` would let a symbol such as `..` act as a path component.
        if !trimmed.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '^') {
            return Err(SymbolError::BadStart { symbol: trimmed.to_owned() });
        }
        Ok(Self(trimmed.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The symbol as one path or key segment: `/` (as in `BTC/USD`) becomes `_`, so the symbol
    /// never adds a level to an object-store path.
    pub fn path_segment(&self) -> String {
        self.0.replace('/', "_")
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Symbol {
    type Err = SymbolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Symbol {
    type Error = SymbolError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<Symbol> for String {
    fn from(symbol: Symbol) -> Self {
        symbol.0
    }
}

/// The span one bar covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timeframe {
    M1,
    M5,
    M15,
    M30,
    H1,
    H4,
    D1,
    W1,
}

/// An unknown timeframe name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown timeframe {0:?}; expected one of m1, m5, m15, m30, h1, h4, d1, w1")]
pub struct TimeframeError(pub String);

impl Timeframe {
    pub const ALL: [Self; 8] =
        [Self::M1, Self::M5, Self::M15, Self::M30, Self::H1, Self::H4, Self::D1, Self::W1];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::M1 => "m1",
            Self::M5 => "m5",
            Self::M15 => "m15",
            Self::M30 => "m30",
            Self::H1 => "h1",
            Self::H4 => "h4",
            Self::D1 => "d1",
            Self::W1 => "w1",
        }
    }

    /// The nominal length of one bar.
    pub fn duration(self) -> Duration {
        match self {
            Self::M1 => Duration::minutes(1),
            Self::M5 => Duration::minutes(5),
            Self::M15 => Duration::minutes(15),
            Self::M30 => Duration::minutes(30),
            Self::H1 => Duration::hours(1),
            Self::H4 => Duration::hours(4),
            Self::D1 => Duration::days(1),
            Self::W1 => Duration::weeks(1),
        }
    }

    /// Daily and weekly bars; the timeframes where split adjustment is on by default.
    pub fn is_daily_or_longer(self) -> bool {
        self >= Self::D1
    }

    /// The timeframe whose bar length is `spacing`, if any.
    pub fn from_duration(spacing: Duration) -> Option<Self> {
        Self::ALL.into_iter().find(|tf| tf.duration() == spacing)
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Timeframe {
    type Err = TimeframeError;
    /// Accepts our names (`h1`) and the common aliases (`1h`, `60m`, `1d`, `daily`, `hourly`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let tf = match s.trim().to_ascii_lowercase().as_str() {
            "m1" | "1m" | "1min" => Self::M1,
            "m5" | "5m" | "5min" => Self::M5,
            "m15" | "15m" | "15min" => Self::M15,
            "m30" | "30m" | "30min" => Self::M30,
            "h1" | "1h" | "60m" | "hourly" => Self::H1,
            "h4" | "4h" | "240m" => Self::H4,
            "d1" | "1d" | "d" | "daily" => Self::D1,
            "w1" | "1w" | "w" | "weekly" => Self::W1,
            _ => return Err(TimeframeError(s.to_owned())),
        };
        Ok(tf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_upper_cased_and_validated() {
        assert_eq!(Symbol::new(" brk.b ").unwrap().as_str(), "BRK.B");
        for ok in ["^GSPC", "EURUSD=X", "BTC-USD", "BTC/USD", "AAPL"] {
            assert!(Symbol::new(ok).is_ok(), "{ok}");
        }
        assert_eq!(Symbol::new(""), Err(SymbolError::Empty));
        assert!(matches!(Symbol::new("AAPL'; DROP"), Err(SymbolError::BadCharacter { character: '\'', .. })));
        assert!(matches!(Symbol::new("../etc"), Err(SymbolError::BadStart { .. })));
        assert!(matches!(Symbol::new("."), Err(SymbolError::BadStart { .. })));
        assert!(matches!(Symbol::new("a b"), Err(SymbolError::BadCharacter { character: ' ', .. })));
        assert!(matches!(Symbol::new(&"A".repeat(21)), Err(SymbolError::TooLong { .. })));
        assert_eq!(Symbol::new("btc/usd").unwrap().path_segment(), "BTC_USD");
    }

    #[test]
    fn symbols_refuse_bad_input_through_serde() {
        assert!(serde_json::from_str::<Symbol>("\"a*b\"").is_err());
        assert_eq!(serde_json::from_str::<Symbol>("\"spy\"").unwrap().as_str(), "SPY");
    }

    #[test]
    fn timeframes_parse_aliases_and_round_trip() {
        for tf in Timeframe::ALL {
            assert_eq!(tf.as_str().parse::<Timeframe>().unwrap(), tf);
            assert_eq!(Timeframe::from_duration(tf.duration()), Some(tf));
        }
        assert_eq!("1H".parse::<Timeframe>().unwrap(), Timeframe::H1);
        assert_eq!("daily".parse::<Timeframe>().unwrap(), Timeframe::D1);
        assert!("h2".parse::<Timeframe>().is_err());
        assert!(Timeframe::M15 < Timeframe::H4);
    }
}
