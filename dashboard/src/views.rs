//! What each page shows, as plain data: the filters read from the URL, and the page of rows
//! they select. The HTML and the JSON are both rendered from these.

use fleet::database::views::{PairFilter, PairOrder, PairSummary, RunSummary};
use ml_core::model::consensus::{self, Consensus, Member};
use ml_core::model::scores::{Composite, CompositeRule};
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

/// `yes` and `no` as a filter; anything else is no filter.
fn yes_no(filter: &str) -> Option<bool> {
    match filter {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

impl OverviewQuery {
    /// The database's filter for this query's page (1-based; 0 reads as 1).
    pub(crate) fn filter(&self) -> PairFilter {
        let order = match self.sort.as_str() {
            "accuracy" => PairOrder::Accuracy,
            "composite" => PairOrder::Composite,
            "live" => PairOrder::Live,
            "forecast" => PairOrder::Forecast,
            _ => PairOrder::Symbol,
        };
        PairFilter {
            symbol_prefix: self.symbol.trim().to_uppercase(),
            timeframe: Some(self.timeframe.clone()).filter(|t| !t.is_empty()),
            beats_baselines: yes_no(&self.beats),
            drifting: yes_no(&self.drift),
            order,
            limit: PER_PAGE,
            offset: (self.page.max(1) - 1) * PER_PAGE,
        }
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

/// The symbol page's settings: the composite's weights (backtest, walk-forward, live) and
/// the consensus rule, kept in the URL so that a view can be shared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct SymbolQuery {
    pub wb: Option<f64>,
    pub ww: Option<f64>,
    pub wl: Option<f64>,
    /// `duration` (default), `majority` or `performance`.
    pub rule: String,
}

impl SymbolQuery {
    /// The composite rule these weights make (the original pipeline's by default).
    pub(crate) fn composite_rule(&self) -> Result<CompositeRule, String> {
        let default = CompositeRule::default();
        let rule = CompositeRule {
            backtest: self.wb.unwrap_or(default.backtest),
            walk_forward: self.ww.unwrap_or(default.walk_forward),
            live: self.wl.unwrap_or(default.live),
            ..default
        };
        let weights = [rule.backtest, rule.walk_forward, rule.live];
        if weights.iter().all(|w| w.is_finite() && *w >= 0.0) && rule.backtest > 0.0 {
            Ok(rule)
        } else {
            Err(format!("weights {weights:?}: each must be finite and not negative, the backtest's above 0"))
        }
    }

    pub(crate) fn consensus_rule(&self) -> Result<consensus::Rule, String> {
        if self.rule.is_empty() { Ok(consensus::Rule::default()) } else { self.rule.parse() }
    }
}

/// One timeframe of a symbol: its summary, and its composite under the page's weights.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TimeframeView {
    pub summary: PairSummary,
    pub composite: Option<Composite>,
}

/// The symbol page: every timeframe's scores and composite, and their consensus.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SymbolPage {
    pub symbol: String,
    pub query: SymbolQuery,
    pub rule: CompositeRule,
    pub consensus_rule: consensus::Rule,
    pub timeframes: Vec<TimeframeView>,
    /// The timeframes' latest forecasts reconciled; `None` without any.
    pub consensus: Option<Consensus>,
    /// The consensus members (each timeframe's last forecast), in the order of its weights.
    pub members: Vec<Member>,
}

impl SymbolPage {
    pub(crate) fn build(symbol: String, query: SymbolQuery, pairs: Vec<PairSummary>) -> Result<Self, String> {
        let rule = query.composite_rule()?;
        let consensus_rule = query.consensus_rule()?;
        let mut pairs: Vec<PairSummary> = pairs.into_iter().filter(|p| p.symbol == symbol).collect();
        pairs.sort_by_key(|p| {
            p.timeframe.parse::<ml_core::Timeframe>().map(ml_core::Timeframe::duration).ok()
        });
        let members: Vec<Member> = pairs.iter().filter_map(member).collect();
        let consensus = consensus::reconcile(&members, consensus_rule);
        let timeframes = pairs
            .into_iter()
            .map(|summary| TimeframeView { composite: summary.scores().map(|s| s.composite(&rule)), summary })
            .collect();
        Ok(Self { symbol, query, rule, consensus_rule, timeframes, consensus, members })
    }
}

/// A timeframe's last forecast as a consensus member.
fn member(pair: &PairSummary) -> Option<Member> {
    Some(Member {
        timeframe: pair.timeframe.parse().ok()?,
        direction: pair.forecast_direction.as_deref()?.parse().ok()?,
        probabilities: [pair.forecast_bearish?, pair.forecast_neutral?, pair.forecast_bullish?],
        live_score: pair.live_score,
    })
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
            forecast_bearish: None,
            forecast_neutral: None,
            forecast_bullish: None,
            forecast_at: None,
            rf_weight: None,
            gb_weight: None,
            scores: None,
        }
    }

    #[test]
    fn the_overview_query_becomes_the_database_filter() {
        let filter = OverviewQuery {
            symbol: " aa ".into(),
            timeframe: "h1".into(),
            beats: "yes".into(),
            drift: "no".into(),
            sort: "composite".into(),
            page: 3,
        }
        .filter();
        assert_eq!(filter.symbol_prefix, "AA", "any case, trimmed");
        assert_eq!(filter.timeframe.as_deref(), Some("h1"));
        assert_eq!((filter.beats_baselines, filter.drifting), (Some(true), Some(false)));
        assert_eq!(filter.order, PairOrder::Composite);
        assert_eq!((filter.limit, filter.offset), (PER_PAGE, 2 * PER_PAGE));
        let default =
            OverviewQuery { beats: "maybe".into(), sort: "nonsense".into(), ..Default::default() }.filter();
        assert_eq!((default.timeframe, default.beats_baselines, default.drifting), (None, None, None));
        assert_eq!((default.order, default.offset), (PairOrder::Symbol, 0), "page 0 reads as the first");
    }

    #[test]
    fn the_symbol_page_weighs_its_scores_as_the_url_says_and_refuses_bad_weights() {
        let mut daily = pair("AAPL", Some(0.5), true, false);
        daily.forecast_direction = Some("BULLISH".to_owned());
        (daily.forecast_bearish, daily.forecast_neutral, daily.forecast_bullish) =
            (Some(0.2), Some(0.2), Some(0.6));
        let mut hourly = PairSummary { timeframe: "h1".to_owned(), ..daily.clone() };
        hourly.forecast_direction = Some("BEARISH".to_owned());
        (hourly.forecast_bearish, hourly.forecast_neutral, hourly.forecast_bullish) =
            (Some(0.7), Some(0.2), Some(0.1));
        let all = vec![daily, hourly, pair("MSFT", None, false, false)];
        let page = SymbolPage::build("AAPL".to_owned(), SymbolQuery::default(), all.clone()).unwrap();
        let timeframes: Vec<&str> = page.timeframes.iter().map(|t| t.summary.timeframe.as_str()).collect();
        assert_eq!(timeframes, ["h1", "d1"], "shortest first, only the symbol's");
        let consensus = page.consensus.expect("two forecasts reconcile");
        assert_eq!(consensus.direction.as_str(), "BULLISH", "the daily bar weighs more under `duration`");
        let custom = SymbolQuery { wb: Some(1.0), ww: Some(0.0), wl: Some(0.0), ..SymbolQuery::default() };
        assert_eq!(SymbolPage::build("AAPL".to_owned(), custom, all.clone()).unwrap().rule.backtest, 1.0);
        let bad = SymbolQuery { wb: Some(0.0), ..SymbolQuery::default() };
        assert!(SymbolPage::build("AAPL".to_owned(), bad, all.clone()).is_err());
        let unknown = SymbolQuery { rule: "loudest".to_owned(), ..SymbolQuery::default() };
        assert!(SymbolPage::build("AAPL".to_owned(), unknown, all).is_err());
    }
}
