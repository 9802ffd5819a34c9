//! Bars to a coarser timeframe (m15 → h1 → h4 → d1 → w1).
//!
//! A coarse bar covers the fixed UTC bucket its start falls in: hours and 4-hour blocks from
//! midnight UTC, days from midnight UTC, weeks from Monday. It opens with the first fine bar's
//! open, closes with the last one's close, takes the extreme high and low and sums volume.
//! Buckets with no fine bar produce no coarse bar (market closures stay gaps).

use chrono::{DateTime, Duration, Utc};

use crate::bar::{Bar, Timeframe};

/// Why bars cannot be resampled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResampleError {
    #[error("cannot resample {from} bars to {to}: the target must be a coarser multiple")]
    NotCoarser { from: Timeframe, to: Timeframe },
}

/// The start of the bucket of `to` that `ts` falls in.
fn bucket_start(ts: DateTime<Utc>, to: Timeframe) -> DateTime<Utc> {
    // 1970-01-01 was a Thursday; weeks start on Monday, 4 days later.
    let origin = match to {
        Timeframe::W1 => DateTime::UNIX_EPOCH + Duration::days(4),
        _ => DateTime::UNIX_EPOCH,
    };
    let length = to.duration().num_milliseconds();
    let offset = (ts - origin).num_milliseconds().div_euclid(length) * length;
    origin + Duration::milliseconds(offset)
}

/// Aggregates ascending `bars` of timeframe `from` into bars of timeframe `to`.
pub fn resample(bars: &[Bar], from: Timeframe, to: Timeframe) -> Result<Vec<Bar>, ResampleError> {
    let (fine, coarse) = (from.duration().num_milliseconds(), to.duration().num_milliseconds());
    if coarse <= fine || coarse % fine != 0 {
        return Err(ResampleError::NotCoarser { from, to });
    }
    debug_assert!(bars.windows(2).all(|w| w[0].ts < w[1].ts), "bars are ascending and distinct");
    let mut out: Vec<Bar> = Vec::with_capacity(bars.len() / usize::try_from(coarse / fine).unwrap_or(1) + 1);
    for bar in bars {
        let start = bucket_start(bar.ts, to);
        match out.last_mut() {
            Some(current) if current.ts == start => {
                current.high = current.high.max(bar.high);
                current.low = current.low.min(bar.low);
                current.close = bar.close;
                current.volume += bar.volume;
            }
            _ => out.push(Bar { ts: start, ..*bar }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(ts: &str, open: f64, high: f64, low: f64, close: f64, volume: f64) -> Bar {
        let ts = DateTime::parse_from_rfc3339(ts).unwrap().to_utc();
        Bar { ts, open, high, low, close, volume }
    }

    #[test]
    fn aggregates_ohlcv_per_bucket() {
        let m15 = [
            bar("2024-01-02T09:30:00Z", 10.0, 11.0, 9.5, 10.5, 100.0),
            bar("2024-01-02T09:45:00Z", 10.5, 12.0, 10.0, 11.5, 50.0),
            bar("2024-01-02T10:00:00Z", 11.5, 11.6, 8.0, 9.0, 25.0),
            bar("2024-01-02T12:15:00Z", 9.0, 9.5, 8.5, 9.2, 10.0),
        ];
        let h1 = resample(&m15, Timeframe::M15, Timeframe::H1).unwrap();
        assert_eq!(
            h1,
            [
                bar("2024-01-02T09:00:00Z", 10.0, 12.0, 9.5, 11.5, 150.0),
                bar("2024-01-02T10:00:00Z", 11.5, 11.6, 8.0, 9.0, 25.0),
                bar("2024-01-02T12:00:00Z", 9.0, 9.5, 8.5, 9.2, 10.0),
            ]
        );
        let h4 = resample(&h1, Timeframe::H1, Timeframe::H4).unwrap();
        assert_eq!(
            h4,
            [
                bar("2024-01-02T08:00:00Z", 10.0, 12.0, 8.0, 9.0, 175.0),
                bar("2024-01-02T12:00:00Z", 9.0, 9.5, 8.5, 9.2, 10.0),
            ]
        );
        let d1 = resample(&h4, Timeframe::H4, Timeframe::D1).unwrap();
        assert_eq!(d1, [bar("2024-01-02T00:00:00Z", 10.0, 12.0, 8.0, 9.2, 185.0)]);
    }

    #[test]
    fn weeks_start_on_monday() {
        let days = [
            bar("2024-01-07T00:00:00Z", 1.0, 1.0, 1.0, 1.0, 1.0), // Sunday
            bar("2024-01-08T00:00:00Z", 2.0, 2.0, 2.0, 2.0, 1.0), // Monday
            bar("2024-01-12T00:00:00Z", 3.0, 3.0, 3.0, 3.0, 1.0), // Friday
        ];
        let weeks = resample(&days, Timeframe::D1, Timeframe::W1).unwrap();
        let starts: Vec<String> = weeks.iter().map(|b| b.ts.format("%a %F").to_string()).collect();
        assert_eq!(starts, ["Mon 2024-01-01", "Mon 2024-01-08"]);
        assert_eq!((weeks[1].open, weeks[1].close, weeks[1].volume), (2.0, 3.0, 2.0));
    }

    #[test]
    fn refuses_finer_or_equal_targets() {
        assert!(resample(&[], Timeframe::H1, Timeframe::M15).is_err());
        assert!(resample(&[], Timeframe::H1, Timeframe::H1).is_err());
        assert!(resample(&[], Timeframe::M15, Timeframe::H1).unwrap().is_empty());
    }
}
