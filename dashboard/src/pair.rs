//! The model page of one pair: its training history plotted (validation accuracy and its
//! interval beside the majority baseline, run after run), the latest model's confusion
//! matrix, per-class precision / recall / F1, reliability diagram, backtest with its equity
//! curves against buy-and-hold, its live forecasts with their outcomes, and links to its
//! manifest and files in the store. Charts are inline SVG drawn here.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use fleet::database::history::{LiveForecast, RunPoint};
use fleet::store::{ArtifactStore, MANIFEST_FILE, PAYLOAD_FILE};
use maud::{Markup, html};
use ml_core::job::Pair;
use ml_core::labels::Direction;
use ml_core::model::Evaluation;
use ml_core::model::backtest::{CurvePoint, Performance};
use ml_core::model::calibration::Calibration;
use serde::Serialize;

use crate::Sources;
use crate::pages::{Ctx, PageError, as_html, as_json, encode, layout, number, percent};

/// Forecasts listed on the page.
const LIVE_FORECASTS: usize = 50;

/// Everything the model page shows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PairPage {
    pub symbol: String,
    pub timeframe: String,
    pub history: Vec<RunPoint>,
    /// The latest succeeded run's model and evaluation.
    pub model: Option<String>,
    pub evaluation: Option<Evaluation>,
    /// The latest trained models' forecasts, newest first, with their outcomes.
    pub forecasts: Vec<LiveForecast>,
    /// The model's folder in the store, if the dashboard reads one.
    pub model_folder: Option<String>,
}

async fn pair_page(sources: &Sources, symbol: &str, timeframe: &str) -> Result<PairPage, PageError> {
    let database = &sources.database;
    let bad = |e: String| PageError::Refused(StatusCode::BAD_REQUEST, e);
    let pair = Pair {
        symbol: symbol.parse().map_err(|e: ml_core::bar::SymbolError| bad(e.to_string()))?,
        timeframe: timeframe.parse().map_err(|e: ml_core::bar::TimeframeError| bad(e.to_string()))?,
    };
    let history = database.run_history(&pair).await?;
    let latest = database.latest_evaluation(&pair).await?;
    if history.is_empty() {
        return Err(PageError::Refused(
            StatusCode::NOT_FOUND,
            format!("{pair} has no succeeded training run"),
        ));
    }
    let (model, evaluation) =
        latest.map_or((None, None), |(model, evaluation)| (Some(model), Some(evaluation)));
    let forecasts = database.live_forecasts(&pair, LIVE_FORECASTS).await?;
    let model_folder = model
        .as_ref()
        .filter(|_| sources.has_store())
        .map(|version| ArtifactStore::model_key(&pair, version));
    Ok(PairPage {
        symbol: pair.symbol.to_string(),
        timeframe: pair.timeframe.to_string(),
        history,
        model,
        evaluation,
        forecasts,
        model_folder,
    })
}

pub(crate) async fn pair(State(sources): Ctx, Path((symbol, timeframe)): Path<(String, String)>) -> Response {
    as_html(pair_page(&sources, &symbol, &timeframe).await, render)
}

pub(crate) async fn pair_json(
    State(sources): Ctx,
    Path((symbol, timeframe)): Path<(String, String)>,
) -> Response {
    as_json(pair_page(&sources, &symbol, &timeframe).await)
}

fn render(page: &PairPage) -> Markup {
    let title = format!("{} {}", page.symbol, page.timeframe);
    layout(
        &title,
        &html! {
            h1 { (title) }
            section.card {
                h2 { "Training history" }
                p.muted { "Validation accuracy of each succeeded run with its 95 % interval (blue), and the majority baseline (grey)." }
                (history_chart(&page.history))
            }
            @if let (Some(model), Some(evaluation)) = (&page.model, &page.evaluation) {
                h2 { "Model " (model) }
                @if let Some(folder) = &page.model_folder {
                    p #files {
                        a href={ "/artifacts/file?key=" (encode(&format!("{folder}/{MANIFEST_FILE}"))) } { "manifest" }
                        " · "
                        a href={ "/artifacts/download?key=" (encode(&format!("{folder}/{MANIFEST_FILE}"))) } download { "download manifest.json" }
                        " · "
                        a href={ "/artifacts/download?key=" (encode(&format!("{folder}/{PAYLOAD_FILE}"))) } download { "download model.bin" }
                        " · "
                        a href={ "/artifacts?prefix=" (encode(folder)) } { "folder" }
                    }
                }
                section.card { h2 { "Confusion matrix" } (confusion(evaluation)) }
                section.card { h2 { "Per class" } (per_class(evaluation)) }
                @if let Some(calibration) = &evaluation.calibration {
                    section.card {
                        h2 { "Reliability" }
                        p.muted { "Observed frequency against predicted probability, per class; the diagonal is perfect. ECE " (format!("{:.3}", calibration.ece)) "." }
                        (reliability_chart(calibration))
                    }
                }
                @if let Some(backtest) = &evaluation.backtest {
                    section.card {
                        h2 { "Backtest" }
                        p.muted { (format!("{} bps per unit traded, {:.0} bars a year", backtest.cost_bps, backtest.bars_per_year)) }
                        (equity_chart(&[
                            ("signal, long-short", "#2f6fde", &backtest.long_short.equity_curve),
                            ("signal, long only", "#27ae60", &backtest.long_only.equity_curve),
                            ("buy and hold", "#888", &backtest.buy_and_hold.equity_curve),
                        ]))
                        (performance_table(&[
                            ("signal, long-short", &backtest.long_short),
                            ("signal, long only", &backtest.long_only),
                            ("buy and hold", &backtest.buy_and_hold),
                            ("majority baseline", &backtest.majority),
                        ]))
                    }
                }
            }
            section.card {
                h2 { "Live forecasts" }
                @if page.forecasts.is_empty() { p.muted { "No forecast by a trained model yet." } }
                @else { (live_table(&page.forecasts)) }
            }
        },
    )
}

const CHART_WIDTH: f64 = 560.0;
const CHART_HEIGHT: f64 = 200.0;
const MARGIN: f64 = 30.0;

/// Accuracy over runs: the interval as a bar, the accuracy as a line, the majority dashed.
fn history_chart(history: &[RunPoint]) -> Markup {
    let values = history
        .iter()
        .flat_map(|p| {
            [p.ensemble_accuracy_low, p.ensemble_accuracy_high, p.majority_accuracy, p.ensemble_accuracy]
        })
        .flatten();
    let (low, high) = values.fold((1.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (low, high) = if low < high { (low - 0.02, high + 0.02) } else { (0.0, 1.0) };
    let count = history.len().max(2) - 1;
    let x = |index: usize| MARGIN + (CHART_WIDTH - 2.0 * MARGIN) * index as f64 / count as f64;
    let y = |value: f64| CHART_HEIGHT - MARGIN - (CHART_HEIGHT - 2.0 * MARGIN) * (value - low) / (high - low);
    let line = |value: fn(&RunPoint) -> Option<f64>| -> String {
        history
            .iter()
            .enumerate()
            .filter_map(|(i, p)| value(p).map(|v| format!("{:.1},{:.1}", x(i), y(v))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    html! {
        svg.chart #history viewBox=(format!("0 0 {CHART_WIDTH} {CHART_HEIGHT}")) width=(CHART_WIDTH) height=(CHART_HEIGHT) role="img" aria-label="training history" {
            line x1=(MARGIN) y1=(CHART_HEIGHT - MARGIN) x2=(CHART_WIDTH - MARGIN) y2=(CHART_HEIGHT - MARGIN) stroke="#bbb" {}
            text x="2" y=(y(high) + 4.0) font-size="10" { (format!("{:.0} %", high * 100.0)) }
            text x="2" y=(y(low) + 4.0) font-size="10" { (format!("{:.0} %", low * 100.0)) }
            @for (i, point) in history.iter().enumerate() {
                @if let (Some(lo), Some(hi)) = (point.ensemble_accuracy_low, point.ensemble_accuracy_high) {
                    line.interval x1=(x(i)) y1=(y(lo)) x2=(x(i)) y2=(y(hi)) stroke="#9bbcf2" stroke-width="6" {}
                }
            }
            polyline.majority points=(line(|p| p.majority_accuracy)) fill="none" stroke="#888" stroke-dasharray="4 3" {}
            polyline.accuracy points=(line(|p| p.ensemble_accuracy)) fill="none" stroke="#2f6fde" stroke-width="2" {}
            @for (i, point) in history.iter().enumerate() {
                @if let Some(accuracy) = point.ensemble_accuracy {
                    circle cx=(x(i)) cy=(y(accuracy)) r="3" fill="#2f6fde" { title { (point.artifact_version.as_deref().unwrap_or("?")) ": " (format!("{:.1} %", accuracy * 100.0)) } }
                }
            }
        }
    }
}

fn confusion(evaluation: &Evaluation) -> Markup {
    let matrix = &evaluation.ensemble.validation.confusion;
    html! {
        table.confusion {
            thead { tr { th { "true ↓ / predicted →" } @for class in Direction::ALL { th { (class.as_str()) } } } }
            tbody {
                @for (row, class) in Direction::ALL.iter().enumerate() {
                    tr { th { (class.as_str()) } @for count in matrix[row] { td.num { (count) } } }
                }
            }
        }
    }
}

fn per_class(evaluation: &Evaluation) -> Markup {
    html! {
        table {
            thead { tr { th { "class" } th { "precision" } th { "recall" } th { "F1" } th { "support" } } }
            tbody {
                @for class in &evaluation.ensemble.validation.per_class {
                    tr {
                        td { (class.class.as_str()) }
                        td.num { (number(class.precision)) }
                        td.num { (number(class.recall)) }
                        td.num { (number(class.f1)) }
                        td.num { (class.support) }
                    }
                }
            }
        }
    }
}

const SQUARE: f64 = 220.0;

/// Per class, observed frequency against mean predicted probability of each bin.
fn reliability_chart(calibration: &Calibration) -> Markup {
    let at = |v: f64| 10.0 + (SQUARE - 20.0) * v;
    let colors = ["#c0392b", "#7f8c8d", "#27ae60"];
    html! {
        svg.chart #reliability viewBox=(format!("0 0 {SQUARE} {SQUARE}")) width=(SQUARE) height=(SQUARE) role="img" aria-label="reliability diagram" {
            rect x="10" y="10" width=(SQUARE - 20.0) height=(SQUARE - 20.0) fill="none" stroke="#ddd" {}
            line x1=(at(0.0)) y1=(SQUARE - at(0.0)) x2=(at(1.0)) y2=(SQUARE - at(1.0)) stroke="#bbb" stroke-dasharray="3 3" {}
            @for (class, color) in calibration.classes.iter().zip(colors) {
                @let points: Vec<String> = class.bins.iter()
                    .filter_map(|bin| Some(format!("{:.1},{:.1}", at(bin.mean_predicted?), SQUARE - at(bin.observed?))))
                    .collect();
                polyline points=(points.join(" ")) fill="none" stroke=(color) stroke-width="2" { title { (class.class.as_str()) } }
            }
        }
        p.muted { span style="color:#c0392b" { "BEARISH" } " · " span style="color:#7f8c8d" { "NEUTRAL" } " · " span style="color:#27ae60" { "BULLISH" } }
    }
}

fn performance_table(rows: &[(&str, &Performance)]) -> Markup {
    html! {
        table {
            thead { tr { th { "" } th { "total return" } th { "annualised" } th { "Sharpe" } th { "max drawdown" } th { "trades" } } }
            tbody {
                @for (name, performance) in rows {
                    tr {
                        td { (name) }
                        td.num { (percent(Some(performance.total_return))) }
                        td.num { (percent(Some(performance.annualized_return))) }
                        td.num { (number(performance.sharpe)) }
                        td.num { (percent(Some(performance.max_drawdown))) }
                        td.num { (performance.trades) }
                    }
                }
            }
        }
    }
}

/// Equity curves on one time axis, each from 1: the signal's books against buy-and-hold.
fn equity_chart(curves: &[(&str, &str, &Vec<CurvePoint>)]) -> Markup {
    let points = curves.iter().flat_map(|(_, _, curve)| curve.iter());
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    let (mut low, mut high) = (1.0_f64, 1.0_f64);
    for point in points {
        (first, last) = (first.min(point.ts.timestamp()), last.max(point.ts.timestamp()));
        (low, high) = (low.min(point.equity), high.max(point.equity));
    }
    if first >= last {
        return html! { p.muted { "No equity curve recorded." } };
    }
    #[expect(clippy::cast_precision_loss, reason = "seconds since 1970 fit a chart's precision")]
    let x = |ts: i64| MARGIN + (CHART_WIDTH - 2.0 * MARGIN) * (ts - first) as f64 / (last - first) as f64;
    let span = (high - low).max(1e-9);
    let y = |equity: f64| CHART_HEIGHT - MARGIN - (CHART_HEIGHT - 2.0 * MARGIN) * (equity - low) / span;
    html! {
        svg.chart #equity viewBox=(format!("0 0 {CHART_WIDTH} {CHART_HEIGHT}")) width=(CHART_WIDTH) height=(CHART_HEIGHT) role="img" aria-label="equity curves" {
            line x1=(MARGIN) y1=(y(1.0)) x2=(CHART_WIDTH - MARGIN) y2=(y(1.0)) stroke="#ddd" {}
            text x="2" y=(y(high) + 4.0) font-size="10" { (format!("{high:.2}")) }
            text x="2" y=(y(low) + 4.0) font-size="10" { (format!("{low:.2}")) }
            @for (name, color, curve) in curves {
                @let line: Vec<String> = curve.iter().map(|p| format!("{:.1},{:.1}", x(p.ts.timestamp()), y(p.equity))).collect();
                polyline.curve points=(line.join(" ")) fill="none" stroke=(color) stroke-width="2" { title { (name) } }
            }
        }
        p.muted {
            @for (i, (name, color, _)) in curves.iter().enumerate() {
                @if i > 0 { " · " }
                span style={ "color:" (color) } { (name) }
            }
        }
    }
}

fn live_table(forecasts: &[LiveForecast]) -> Markup {
    let scored: Vec<bool> = forecasts.iter().filter_map(|forecast| forecast.correct).collect();
    let right = scored.iter().filter(|c| **c).count();
    html! {
        @if !scored.is_empty() {
            p { (right) " of " (scored.len()) " scored forecasts right" span.muted { " (of the " (forecasts.len()) " listed)" } }
        }
        table #live {
            thead { tr { th { "Bar" } th { "Direction" } th { "Confidence" } th { "Outcome" } th { "Return" } th { "Model" } } }
            tbody {
                @for forecast in forecasts {
                    tr {
                        td { @if let Some(at) = forecast.bar_ts { (at.format("%Y-%m-%d %H:%M")) } }
                        td { @if let Some(direction) = &forecast.direction { span class={ "badge " (direction) } { (direction) } } }
                        td.num { (percent(forecast.confidence)) }
                        td {
                            @match (forecast.correct, &forecast.realized) {
                                (Some(true), Some(realized)) => span.good { "right (" (realized) ")" },
                                (Some(false), Some(realized)) => span.bad { "wrong (" (realized) ")" },
                                _ => span.muted { "pending" },
                            }
                        }
                        td.num { (percent(forecast.realized_return)) }
                        td.muted { @if let Some(version) = &forecast.artifact_version { (version) } }
                    }
                }
            }
        }
    }
}
