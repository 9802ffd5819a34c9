//! Timestamp formats found in real bar files, detected from a sample of values.
//!
//! Values without a zone are taken as UTC; values with an offset are converted to UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde::Serialize;

/// A way to read a timestamp column. Detection tries them in the order of
/// [`TimestampFormat::CANDIDATES`] and keeps the first that reads every sampled value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum TimestampFormat {
    /// RFC 3339 / ISO 8601 with `Z` or an offset (`2024-01-02T14:30:00-05:00`); a value of
    /// the column without one is UTC.
    Rfc3339,
    /// A chrono pattern with an offset (`%z`).
    WithOffset(String),
    /// A chrono pattern for a date and a time, read as UTC.
    NaiveDateTime(String),
    /// A chrono pattern for a date alone; the bar starts at midnight UTC.
    NaiveDate(String),
    /// `2019-10-17 09-AM`, as in CryptoDataDownload exports.
    DateHourAmPm,
    /// `20240102` as a number.
    CompactDate,
    /// Seconds since the Unix epoch.
    EpochSeconds,
    /// Milliseconds since the Unix epoch.
    EpochMillis,
}

impl From<TimestampFormat> for String {
    fn from(format: TimestampFormat) -> Self {
        match format {
            TimestampFormat::Rfc3339 => "rfc3339".to_owned(),
            TimestampFormat::WithOffset(p)
            | TimestampFormat::NaiveDateTime(p)
            | TimestampFormat::NaiveDate(p) => p,
            TimestampFormat::DateHourAmPm => "%Y-%m-%d %I-%p".to_owned(),
            TimestampFormat::CompactDate => "%Y%m%d".to_owned(),
            TimestampFormat::EpochSeconds => "epoch seconds".to_owned(),
            TimestampFormat::EpochMillis => "epoch milliseconds".to_owned(),
        }
    }
}

/// Epoch values at or above this are milliseconds (1e11 s is the year 5138).
const EPOCH_MILLIS_FROM: f64 = 1e11;

impl TimestampFormat {
    /// Order matters where two formats read the same text: month-first before day-first for
    /// `a/b/yyyy` (a file whose first field goes past 12 falls through to day-first), compact
    /// dates before epoch seconds.
    fn candidates() -> Vec<Self> {
        let owned = |p: &str| p.to_owned();
        let mut formats = vec![Self::Rfc3339];
        formats.extend(
            ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M%#z"]
                .map(|p| Self::WithOffset(owned(p))),
        );
        formats.extend(
            [
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M",
                "%Y-%m-%dT%H:%M",
                "%Y/%m/%d %H:%M:%S%.f",
                "%Y/%m/%d %H:%M",
                "%d.%m.%Y %H:%M:%S%.f",
                "%d.%m.%Y %H:%M",
                "%m/%d/%Y %H:%M:%S%.f",
                "%m/%d/%Y %H:%M",
                "%m/%d/%Y %I:%M:%S %p",
                "%m/%d/%Y %I:%M %p",
                "%d/%m/%Y %H:%M:%S%.f",
                "%d/%m/%Y %H:%M",
            ]
            .map(|p| Self::NaiveDateTime(owned(p))),
        );
        formats.push(Self::DateHourAmPm);
        formats.extend(
            ["%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%m/%d/%Y", "%d/%m/%Y", "%d-%b-%Y", "%b %d, %Y"]
                .map(|p| Self::NaiveDate(owned(p))),
        );
        formats.extend([Self::CompactDate, Self::EpochSeconds, Self::EpochMillis]);
        formats
    }

    /// A user-given chrono pattern: with `%z` it carries an offset, with an hour field it is a
    /// date-time, else a date.
    pub fn custom(pattern: &str) -> Self {
        if pattern.contains("%z") || pattern.contains("%#z") || pattern.contains("%:z") {
            Self::WithOffset(pattern.to_owned())
        } else if ["%H", "%I", "%T", "%R"].iter().any(|f| pattern.contains(f)) {
            Self::NaiveDateTime(pattern.to_owned())
        } else {
            Self::NaiveDate(pattern.to_owned())
        }
    }

    /// The first candidate that reads every sample, or else the one that reads the most.
    /// `None` when no candidate reads any sample.
    pub fn detect(samples: &[&str]) -> Option<Self> {
        let mut best: Option<(usize, Self)> = None;
        let total = samples.len();
        for format in Self::candidates() {
            let read = samples.iter().filter(|s| format.parse(s).is_some()).count();
            if read == total && total > 0 {
                return Some(format);
            }
            if read > 0 && best.as_ref().is_none_or(|(n, _)| read > *n) {
                best = Some((read, format));
            }
        }
        best.map(|(_, format)| format)
    }

    /// Reads one value; `None` when it does not fit this format.
    pub fn parse(&self, raw: &str) -> Option<DateTime<Utc>> {
        let value = raw.trim();
        match self {
            // A value without its offset, in a column of values with one, is UTC like any
            // value without a zone.
            Self::Rfc3339 => DateTime::parse_from_rfc3339(value).ok().map(|t| t.to_utc()).or_else(|| {
                ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                    .iter()
                    .find_map(|p| NaiveDateTime::parse_from_str(value, p).ok())
                    .map(|t| t.and_utc())
            }),
            Self::WithOffset(p) => {
                DateTime::parse_from_str(value, p).ok().map(|t| t.to_utc()).or_else(|| {
                    let naive = p.trim_end_matches("%#z").trim_end_matches("%:z").trim_end_matches("%z");
                    NaiveDateTime::parse_from_str(value, naive).ok().map(|t| t.and_utc())
                })
            }
            Self::NaiveDateTime(p) => NaiveDateTime::parse_from_str(value, p).ok().map(|t| t.and_utc()),
            Self::NaiveDate(p) => {
                NaiveDate::parse_from_str(value, p).ok().map(|d| d.and_time(NaiveTime::MIN).and_utc())
            }
            Self::DateHourAmPm => parse_date_hour_am_pm(value),
            Self::CompactDate => {
                if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                NaiveDate::parse_from_str(value, "%Y%m%d")
                    .ok()
                    .filter(|d| (1900..=2200).contains(&chrono::Datelike::year(d)))
                    .map(|d| d.and_time(NaiveTime::MIN).and_utc())
            }
            Self::EpochSeconds => parse_epoch(value, false),
            Self::EpochMillis => parse_epoch(value, true),
        }
    }
}

fn parse_epoch(value: &str, millis: bool) -> Option<DateTime<Utc>> {
    let number: f64 = value.parse().ok()?;
    if !number.is_finite() || number < 0.0 || (number >= EPOCH_MILLIS_FROM) != millis {
        return None;
    }
    let ms = if millis { number } else { number * 1000.0 };
    // Whole milliseconds are all a bar timestamp needs; the cast saturates, never wraps.
    #[expect(clippy::cast_possible_truncation, reason = "range checked above; bars have ms precision")]
    Utc.timestamp_millis_opt(ms.round() as i64).single()
}

fn parse_date_hour_am_pm(value: &str) -> Option<DateTime<Utc>> {
    let (date, hour) = value.split_once(' ')?;
    let (hour, meridiem) = hour.split_once('-')?;
    let hour: u32 = hour.parse().ok().filter(|h| (1..=12).contains(h))?;
    let hour = match meridiem.to_ascii_uppercase().as_str() {
        "AM" => hour % 12,
        "PM" => hour % 12 + 12,
        _ => return None,
    };
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(hour, 0, 0)?.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn detect_and_parse(samples: &[&str]) -> (TimestampFormat, DateTime<Utc>) {
        let format = TimestampFormat::detect(samples).expect("a format");
        let first = format.parse(samples[0]).expect("parses");
        (format, first)
    }

    #[test]
    fn reads_the_formats_users_bring() {
        let cases: &[(&[&str], &str)] = &[
            (&["2000-03-01", "2000-03-02"], "2000-03-01T00:00:00Z"),
            (&["01.01.2017 22:00:00.000"], "2017-01-01T22:00:00Z"),
            (&["2019-10-17 09-AM", "2019-10-17 12-PM"], "2019-10-17T09:00:00Z"),
            (&["2019-10-17 12-AM"], "2019-10-17T00:00:00Z"),
            (&["2024-01-02T14:30:00-05:00"], "2024-01-02T19:30:00Z"),
            (&["2024-01-02 14:30:00+01:00"], "2024-01-02T13:30:00Z"),
            (&["2024-01-02T14:30:00Z"], "2024-01-02T14:30:00Z"),
            (&["1/2/2024", "12/31/2024"], "2024-01-02T00:00:00Z"),
            (&["13/01/2024", "02/01/2024"], "2024-01-13T00:00:00Z"),
            (&["1704205800"], "2024-01-02T14:30:00Z"),
            (&["1704205800000"], "2024-01-02T14:30:00Z"),
            (&["20240102"], "2024-01-02T00:00:00Z"),
            (&["2024-01-02 14:30"], "2024-01-02T14:30:00Z"),
        ];
        for (samples, expected) in cases {
            let (format, first) = detect_and_parse(samples);
            assert_eq!(first, utc(expected), "{samples:?} read as {format:?}");
        }
    }

    #[test]
    fn values_without_an_offset_among_values_with_one_are_utc() {
        let samples = ["2024-01-02T14:30:00-05:00", "2024-01-02T20:00:00", "2024-01-02T21:00:00Z"];
        let format = TimestampFormat::detect(&samples).unwrap();
        assert_eq!(format, TimestampFormat::Rfc3339);
        assert_eq!(format.parse(samples[0]), Some(utc("2024-01-02T19:30:00Z")));
        assert_eq!(format.parse(samples[1]), Some(utc("2024-01-02T20:00:00Z")));
        let spaced = ["2024-01-02 14:30:00-0500", "2024-01-02 20:00:00"];
        let format = TimestampFormat::detect(&spaced).unwrap();
        assert!(matches!(format, TimestampFormat::WithOffset(_)), "{format:?}");
        assert_eq!(format.parse(spaced[1]), Some(utc("2024-01-02T20:00:00Z")));
    }

    #[test]
    fn unknown_text_is_not_a_timestamp() {
        assert_eq!(TimestampFormat::detect(&["yesterday", "n/a"]), None);
        assert!(TimestampFormat::DateHourAmPm.parse("2019-10-17 13-PM").is_none());
    }

    #[test]
    fn custom_patterns_are_classified() {
        let format = TimestampFormat::custom("%Y.%m.%d %H:%M");
        assert_eq!(format.parse("2024.01.02 14:30"), Some(utc("2024-01-02T14:30:00Z")));
        let format = TimestampFormat::custom("%d%m%Y");
        assert_eq!(format.parse("02012024"), Some(utc("2024-01-02T00:00:00Z")));
    }
}
