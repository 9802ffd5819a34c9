//! What each page shows, as plain data: the filters read from the URL, and the page of rows
//! they select. The HTML and the JSON are both rendered from these.

use fleet::database::views::{PairSummary, RunSummary};
use serde::{Deserialize, Serialize};

/// Rows per page.
pub(crate) const PER_PAGE: usize = 50;

/// The overview's filters, as the URL carries them (so that a view can be shared).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct OverviewQuery {
    /// Symbols starting with this (any case).
    pub symbol: String,
    pub timeframe: String,
    /// `yes`: only models that beat their baselines; `no`: only those that do not.
    pub beats: String,
    /// `yes`: only drifting pairs; `no`: only the others.
    pub drift: String,
    /// `symbol` (default), `accuracy`, `composite`, `live` or `forecast`.
    pub sort: String,
    /// 1-based.
    pub page: usize,
}

/// One page of the overview.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OverviewPage {
    pub query: OverviewQuery,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub pairs: Vec<PairSummary>,
}

fn yes_no(filter: &str, value: bool) -> bool {
    match filter {
        "yes" => value,
        "no" => !value,
        _ => true,
    }
}

impl OverviewPage {
    pub(crate) fn select(mut query: OverviewQuery, all: Vec<PairSummary>) -> Self {
        let symbol = query.symbol.trim().to_uppercase();
        let mut pairs: Vec<PairSummary> = all
            .into_iter()
            .filter(|p| p.symbol.starts_with(&symbol))
            .filter(|p| query.timeframe.is_empty() || p.timeframe == query.timeframe)
            .filter(|p| yes_no(&query.beats, p.beats_baselines == Some(true)))
            .filter(|p| yes_no(&query.drift, p.drifting()))
            .collect();
        // Numbers best first; pairs without one last.
        let descending = |value: fn(&PairSummary) -> Option<f64>| {
            move |a: &PairSummary, b: &PairSummary| {
                let key = |p: &PairSummary| value(p).unwrap_or(f64::NEG_INFINITY);
                key(b).total_cmp(&key(a))
            }
        };
        match query.sort.as_str() {
            "accuracy" => pairs.sort_by(descending(|p| p.ensemble_accuracy)),
            "composite" => pairs.sort_by(descending(|p| p.live_composite.or(p.trained_composite))),
            "live" => pairs.sort_by(descending(|p| p.live_score)),
            "forecast" => pairs.sort_by_key(|p| std::cmp::Reverse(p.forecast_at)),
            _ => {}
        }
        let total = pairs.len();
        let pages = total.div_ceil(PER_PAGE).max(1);
        let page = query.page.clamp(1, pages);
        query.page = page;
        let pairs = pairs.into_iter().skip((page - 1) * PER_PAGE).take(PER_PAGE).collect();
        Self { query, total, page, pages, pairs }
    }
}

/// The runs page's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RunsQuery {
    pub symbol: String,
    /// `succeeded`, `failed` or `up_to_date`; anything else lists all.
    pub status: String,
    pub page: usize,
}

/// One page of training runs.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunsPage {
    pub query: RunsQuery,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    pub runs: Vec<RunSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(symbol: &str, accuracy: Option<f64>, beats: bool, drift: bool) -> PairSummary {
        PairSummary {
            symbol: symbol.to_owned(),
            timeframe: "d1".to_owned(),
            artifact_version: None,
            trained_at: None,
            ensemble_accuracy: accuracy,
            ensemble_accuracy_low: None,
            ensemble_accuracy_high: None,
            majority_accuracy: None,
            beats_baselines: Some(beats),
            walk_forward_score: None,
            backtest_score: None,
            trained_composite: None,
            live_score: None,
            live_composite: None,
            composite_drift: Some(drift),
            drift_alerted: false,
            forecast_direction: None,
            forecast_confidence: None,
            forecast_at: None,
        }
    }

    #[test]
    fn filters_sort_and_pages_select_the_rows() {
        let all = vec![
            pair("AAPL", Some(0.4), true, false),
            pair("AMZN", None, false, true),
            pair("MSFT", Some(0.6), false, false),
        ];
        let query = |q: OverviewQuery| OverviewPage::select(q, all.clone());
        let symbols = |page: OverviewPage| page.pairs.into_iter().map(|p| p.symbol).collect::<Vec<_>>();
        assert_eq!(symbols(query(OverviewQuery::default())), ["AAPL", "AMZN", "MSFT"]);
        assert_eq!(
            symbols(query(OverviewQuery { symbol: "a".into(), ..Default::default() })),
            ["AAPL", "AMZN"]
        );
        assert_eq!(symbols(query(OverviewQuery { beats: "yes".into(), ..Default::default() })), ["AAPL"]);
        assert_eq!(symbols(query(OverviewQuery { drift: "yes".into(), ..Default::default() })), ["AMZN"]);
        assert_eq!(
            symbols(query(OverviewQuery { drift: "no".into(), ..Default::default() })),
            ["AAPL", "MSFT"]
        );
        let by_accuracy = query(OverviewQuery { sort: "accuracy".into(), ..Default::default() });
        assert_eq!(symbols(by_accuracy), ["MSFT", "AAPL", "AMZN"], "best first, none last");
        let beyond = query(OverviewQuery { page: 9, ..Default::default() });
        assert_eq!((beyond.page, beyond.pages, beyond.total), (1, 1, 3), "a page past the end is the last");
    }
}
