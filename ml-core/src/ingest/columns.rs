//! Finding the columns we need in a header, whatever their case, spacing or vendor's name.

use super::{ColumnOverrides, IngestError};
use std::path::Path;

/// Where each field lives in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    pub time: Vec<usize>,
    pub open: usize,
    pub high: usize,
    pub low: usize,
    pub close: usize,
    pub volume: Option<usize>,
    pub adj_close: Option<usize>,
    pub symbol: Option<usize>,
}

/// `Adj Close`, `adj_close` and `AdjClose` all normalise to `adjclose`.
fn normalise(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase()
}

const TIME: &[&str] =
    &["date", "time", "datetime", "timestamp", "ts", "gmttime", "localtime", "opentime", "unix", "day"];
const OPEN: &[&str] = &["open", "o", "openprice", "openbid", "openask"];
const HIGH: &[&str] = &["high", "h", "highprice", "highbid", "highask"];
const LOW: &[&str] = &["low", "l", "lowprice", "lowbid", "lowask"];
const CLOSE: &[&str] = &["close", "c", "last", "closeprice", "closebid", "closeask"];
const VOLUME: &[&str] = &["volume", "vol", "v", "tickvolume", "tickvol", "volumefrom"];
const ADJ_CLOSE: &[&str] = &["adjclose", "adjustedclose", "adjcloseprice"];
const SYMBOL: &[&str] = &["ticker", "symbol"];

fn find(names: &[String], aliases: &[&str]) -> Option<usize> {
    aliases.iter().find_map(|alias| names.iter().position(|n| n == alias))
}

fn find_override(names: &[String], wanted: Option<&str>) -> Option<Option<usize>> {
    wanted.map(|w| names.iter().position(|n| *n == normalise(w)))
}

/// Whether a line's cells look like a header: a time column and OHLC columns, by their usual
/// names or the overriding ones.
pub fn looks_like_header(cells: &[String], overrides: &ColumnOverrides) -> bool {
    let names: Vec<String> = cells.iter().map(|c| normalise(c)).collect();
    let has = |wanted: &Option<String>, aliases: &[&str]| match find_override(&names, wanted.as_deref()) {
        Some(found) => found.is_some(),
        None => find(&names, aliases).is_some(),
    };
    has(&overrides.time, TIME)
        && has(&overrides.close, CLOSE)
        && [OPEN, HIGH, LOW].iter().all(|aliases| find(&names, aliases).is_some())
}

impl ColumnMap {
    pub fn from_headers(
        path: &Path,
        headers: &[String],
        overrides: &ColumnOverrides,
    ) -> Result<Self, IngestError> {
        let names: Vec<String> = headers.iter().map(|h| normalise(h)).collect();
        let missing = |column: &str| IngestError::MissingColumn {
            path: path.to_owned(),
            column: column.to_owned(),
            headers: headers.join(","),
        };
        let required =
            |field: &str, wanted: Option<&str>, aliases: &[&str]| match find_override(&names, wanted) {
                Some(found) => found.ok_or_else(|| missing(wanted.unwrap_or(field))),
                None => find(&names, aliases).ok_or_else(|| missing(field)),
            };
        // A separate `Date` and `Time` pair (MetaTrader exports) is read as one timestamp.
        let time = match find_override(&names, overrides.time.as_deref()) {
            Some(found) => vec![found.ok_or_else(|| missing("time"))?],
            None => match (find(&names, &["date"]), find(&names, &["time"])) {
                (Some(date), Some(time)) => vec![date, time],
                _ => vec![find(&names, TIME).ok_or_else(|| missing("date or time"))?],
            },
        };
        let volume = match find_override(&names, overrides.volume.as_deref()) {
            Some(found) => Some(found.ok_or_else(|| missing("volume"))?),
            // Exports with several volume columns (base and quote currency) name the base one
            // `volume` or `volume_<base>`; prefer an exact name, then the first such column.
            None => find(&names, VOLUME).or_else(|| names.iter().position(|n| n.starts_with("volume"))),
        };
        Ok(Self {
            time,
            open: required("open", None, OPEN)?,
            high: required("high", None, HIGH)?,
            low: required("low", None, LOW)?,
            close: required("close", overrides.close.as_deref(), CLOSE)?,
            volume,
            adj_close: find(&names, ADJ_CLOSE),
            symbol: find(&names, SYMBOL),
        })
    }

    /// The header name of the time column(s), for messages.
    pub fn time_label(&self, headers: &[String]) -> String {
        self.time.iter().map(|&i| headers[i].as_str()).collect::<Vec<_>>().join(" + ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(line: &str) -> Vec<String> {
        line.split(',').map(str::to_owned).collect()
    }

    #[test]
    fn maps_vendor_headers() {
        let path = Path::new("x.csv");
        let yahoo = ColumnMap::from_headers(
            path,
            &headers("Date,Open,High,Low,Close,Adj Close,Volume"),
            &ColumnOverrides::default(),
        )
        .unwrap();
        assert_eq!((yahoo.time.clone(), yahoo.adj_close, yahoo.volume), (vec![0], Some(5), Some(6)));

        let crypto = ColumnMap::from_headers(
            path,
            &headers("date,symbol,open,high,low,close,volume_btc,volume"),
            &ColumnOverrides::default(),
        )
        .unwrap();
        assert_eq!((crypto.symbol, crypto.volume), (Some(1), Some(7)));

        let metatrader = ColumnMap::from_headers(
            path,
            &headers("DATE,TIME,OPEN,HIGH,LOW,CLOSE,TICKVOL"),
            &ColumnOverrides::default(),
        )
        .unwrap();
        assert_eq!((metatrader.time, metatrader.volume), (vec![0, 1], Some(6)));
    }

    #[test]
    fn overrides_win_and_missing_columns_are_named() {
        let path = Path::new("x.csv");
        let overrides = ColumnOverrides { volume: Some("Volume BTC".into()), ..Default::default() };
        let map = ColumnMap::from_headers(
            path,
            &headers("date,symbol,open,high,low,close,volume_btc,volume"),
            &overrides,
        )
        .unwrap();
        assert_eq!(map.volume, Some(6));

        let err = ColumnMap::from_headers(path, &headers("Date,Open,High,Low"), &ColumnOverrides::default())
            .unwrap_err();
        assert!(err.to_string().contains("close"), "{err}");
    }
}
