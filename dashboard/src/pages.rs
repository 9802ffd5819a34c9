//! The pages: handlers that read through `fleet::database` and render with maud, which
//! escapes every interpolated value (a job's error holding `<script>` is shown as text).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use fleet::database::runs::RunStatus;
use fleet::database::views::{PairSummary, RunFilter, RunJobs, RunSummary};
use fleet::database::{Database, DatabaseError};
use fleet::queue::QueueError;
use maud::{DOCTYPE, Markup, html};

use crate::Sources;
use crate::views::{
    OverviewPage, OverviewQuery, PER_PAGE, RunsPage, RunsQuery, SymbolPage, SymbolQuery, TimeframeView,
};

pub(crate) type Ctx = State<Arc<Sources>>;

const STYLE: &str = include_str!("style.css");

pub(crate) async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

async fn overview_page(database: &Database, mut query: OverviewQuery) -> Result<OverviewPage, DatabaseError> {
    query.page = query.page.max(1);
    let (mut pairs, total) = database.pair_summaries(&query.filter()).await?;
    let pages = total.div_ceil(PER_PAGE).max(1);
    if query.page > pages {
        // A page past the end (a shared link after pairs went away) shows the last.
        query.page = pages;
        (pairs, _) = database.pair_summaries(&query.filter()).await?;
    }
    Ok(OverviewPage { page: query.page, query, total, pages, pairs })
}

pub(crate) async fn overview(State(sources): Ctx, Query(query): Query<OverviewQuery>) -> Response {
    as_html(overview_page(&sources.database, query).await, render_overview)
}

pub(crate) async fn overview_json(State(sources): Ctx, Query(query): Query<OverviewQuery>) -> Response {
    as_json(overview_page(&sources.database, query).await)
}

async fn runs_page(database: &Database, query: RunsQuery) -> Result<RunsPage, DatabaseError> {
    let page = query.page.max(1);
    let filter = RunFilter {
        symbol: Some(query.symbol.trim().to_uppercase()).filter(|s| !s.is_empty()),
        status: RunStatus::try_from(query.status.clone()).ok(),
        limit: PER_PAGE,
        offset: (page - 1) * PER_PAGE,
    };
    let (runs, total) = database.run_summaries(&filter).await?;
    Ok(RunsPage { query, total, page, pages: total.div_ceil(PER_PAGE).max(1), runs })
}

pub(crate) async fn runs(State(sources): Ctx, Query(query): Query<RunsQuery>) -> Response {
    as_html(runs_page(&sources.database, query).await, render_runs)
}

pub(crate) async fn runs_json(State(sources): Ctx, Query(query): Query<RunsQuery>) -> Response {
    as_json(runs_page(&sources.database, query).await)
}

/// Why a page cannot be shown.
#[derive(Debug)]
pub(crate) enum PageError {
    /// Bad input, nothing there, or not allowed: the status (400, 401, 403, 404) and why.
    Refused(StatusCode, String),
    /// A service the page reads did not answer: which, and its error (top level only).
    Unavailable { service: &'static str, error: String },
}

impl From<DatabaseError> for PageError {
    fn from(error: DatabaseError) -> Self {
        Self::Unavailable { service: "results database", error: error.to_string() }
    }
}

impl From<QueueError> for PageError {
    fn from(error: QueueError) -> Self {
        Self::Unavailable { service: "queue", error: error.to_string() }
    }
}

async fn symbol_page(database: &Database, symbol: &str, query: SymbolQuery) -> Result<SymbolPage, PageError> {
    let symbol: ml_core::Symbol = symbol
        .parse()
        .map_err(|e: ml_core::bar::SymbolError| PageError::Refused(StatusCode::BAD_REQUEST, e.to_string()))?;
    let pairs = database.symbol_summaries(symbol.as_str()).await?;
    let page = SymbolPage::build(symbol.to_string(), query, pairs)
        .map_err(|reason| PageError::Refused(StatusCode::BAD_REQUEST, reason))?;
    if page.timeframes.is_empty() {
        return Err(PageError::Refused(
            StatusCode::NOT_FOUND,
            format!("{symbol} has no training run or forecast"),
        ));
    }
    Ok(page)
}

pub(crate) async fn symbol(
    State(sources): Ctx,
    Path(symbol): Path<String>,
    Query(query): Query<SymbolQuery>,
) -> Response {
    as_html(symbol_page(&sources.database, &symbol, query).await, render_symbol)
}

pub(crate) async fn symbol_json(
    State(sources): Ctx,
    Path(symbol): Path<String>,
    Query(query): Query<SymbolQuery>,
) -> Response {
    as_json(symbol_page(&sources.database, &symbol, query).await)
}

async fn run_page(database: &Database, id: &str) -> Result<RunJobs, PageError> {
    let id: uuid::Uuid = id.parse().map_err(|e| {
        PageError::Refused(StatusCode::BAD_REQUEST, format!("run id {id:?} is not a uuid: {e}"))
    })?;
    Ok(database.run_jobs(id).await?)
}

pub(crate) async fn run(State(sources): Ctx, Path(id): Path<String>) -> Response {
    as_html(run_page(&sources.database, &id).await, render_run)
}

pub(crate) async fn run_json(State(sources): Ctx, Path(id): Path<String>) -> Response {
    as_json(run_page(&sources.database, &id).await)
}

/// A page rendered, or the page that says why not.
pub(crate) fn as_html<T>(
    page: Result<T, impl Into<PageError>>,
    render: impl FnOnce(&T) -> Markup,
) -> Response {
    match page.map_err(Into::into) {
        Ok(page) => Html(render(&page).into_string()).into_response(),
        Err(error) => error_page(error),
    }
}

/// What a reader is told when a page cannot be shown. A service that did not answer gives 503
/// (so that a probe sees it too) and its top-level error only, never its sources, which may
/// name the server.
pub(crate) fn error_page(error: PageError) -> Response {
    let (status, title, content) = match error {
        PageError::Refused(status, reason) => (status, "refused", html! { p.unavailable { (reason) } }),
        PageError::Unavailable { service, error } => {
            tracing::warn!(service, error = %error, "a page could not be read");
            let content = html! {
                div.unavailable {
                    p { strong { "The " (service) " did not answer." } " The fleet may still be working; try again in a moment." }
                    p.muted { (error) }
                }
            };
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable", content)
        }
    };
    (status, Html(layout(title, &content).into_string())).into_response()
}

#[derive(serde::Serialize)]
struct ApiError {
    error: String,
}

/// A page's data as JSON, or the error with its status.
pub(crate) fn as_json<T: serde::Serialize>(page: Result<T, impl Into<PageError>>) -> Response {
    match page.map_err(Into::into) {
        Ok(page) => Json(page).into_response(),
        Err(PageError::Refused(status, reason)) => (status, Json(ApiError { error: reason })).into_response(),
        Err(PageError::Unavailable { service, error }) => {
            tracing::warn!(service, error = %error, "an API route could not be read");
            let body = Json(ApiError { error: format!("the {service} did not answer: {error}") });
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
        }
    }
}

pub(crate) fn layout(title: &str, content: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "boltfleet · " (title) }
                link rel="stylesheet" href="/assets/style.css";
                // No favicon request: the page asks for nothing the binary does not serve.
                link rel="icon" href="data:,";
            }
            body {
                header {
                    strong { "boltfleet" }
                    a href="/" { "Overview" }
                    a href="/runs" { "Runs" }
                    a href="/queue" { "Queue" }
                    a href="/artifacts" { "Artifacts" }
                }
                main { (content) }
            }
        }
    }
}

/// A value percent-encoded for a URL's query or path segment (symbols hold `^`, `=`, `/`).
pub(crate) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn overview_link(query: &OverviewQuery, page: usize) -> String {
    format!(
        "/?symbol={}&timeframe={}&beats={}&drift={}&sort={}&page={page}",
        encode(&query.symbol),
        encode(&query.timeframe),
        encode(&query.beats),
        encode(&query.drift),
        encode(&query.sort)
    )
}

fn runs_link(query: &RunsQuery, page: usize) -> String {
    format!("/runs?symbol={}&status={}&page={page}", encode(&query.symbol), encode(&query.status))
}

pub(crate) fn pager(page: usize, pages: usize, total: usize, link: impl Fn(usize) -> String) -> Markup {
    html! {
        div.pager {
            @if page > 1 { a href=(link(page - 1)) { "← previous" } }
            span.muted { "page " (page) " of " (pages) " · " (total) " in all" }
            @if page < pages { a href=(link(page + 1)) { "next →" } }
        }
    }
}

fn select(name: &str, current: &str, options: &[(&str, &str)]) -> Markup {
    html! {
        select name=(name) {
            @for (value, label) in options {
                option value=(value) selected[*value == current] { (label) }
            }
        }
    }
}

pub(crate) fn percent(value: Option<f64>) -> Markup {
    html! { @if let Some(value) = value { (format!("{:.1} %", value * 100.0)) } @else { span.muted { "–" } } }
}

pub(crate) fn number(value: Option<f64>) -> Markup {
    html! { @if let Some(value) = value { (format!("{value:.3}")) } @else { span.muted { "–" } } }
}

/// How long ago, in the largest unit that fits.
fn age(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let minutes = (now - at).num_minutes().max(0);
    match minutes {
        0..60 => format!("{minutes} min ago"),
        60..2880 => format!("{} h ago", minutes / 60),
        _ => format!("{} d ago", minutes / 1440),
    }
}

fn render_overview(page: &OverviewPage) -> Markup {
    let query = &page.query;
    let now = Utc::now();
    let yes_no = [("", "any"), ("yes", "yes"), ("no", "no")];
    let timeframes: Vec<(&str, &str)> = std::iter::once(("", "any"))
        .chain(ml_core::Timeframe::ALL.iter().map(|tf| (tf.as_str(), tf.as_str())))
        .collect();
    layout(
        "overview",
        &html! {
            h1 { "Overview" }
            form.filters method="get" action="/" {
                label { "Symbol" input type="text" name="symbol" value=(query.symbol) placeholder="any"; }
                label { "Timeframe" (select("timeframe", &query.timeframe, &timeframes)) }
                label { "Beats baselines" (select("beats", &query.beats, &yes_no)) }
                label { "Drift" (select("drift", &query.drift, &yes_no)) }
                label { "Sort" (select("sort", &query.sort, &[("symbol", "symbol"), ("accuracy", "accuracy"), ("composite", "composite"), ("live", "live score"), ("forecast", "last forecast")])) }
                button type="submit" { "Apply" }
            }
            table #pairs {
                thead { tr {
                    th { "Symbol" } th { "TF" } th { "Model" } th { "Validation [95 % CI]" } th { "Majority" }
                    th { "Beats" } th { "Walk-forward" } th { "Live" } th { "Composite" } th { "Drift" } th { "Last forecast" }
                } }
                tbody {
                    @for pair in &page.pairs { (pair_row(pair, now)) }
                }
            }
            @if page.pairs.is_empty() { p.muted { "No pair matches. Train one: boltfleet train --wait" } }
            (pager(page.page, page.pages, page.total, |p| overview_link(query, p)))
        },
    )
}

fn pair_row(pair: &PairSummary, now: DateTime<Utc>) -> Markup {
    html! {
        tr {
            td { a href={ "/symbol/" (encode(&pair.symbol)) } { strong { (pair.symbol) } } }
            td { a href={ "/pair/" (encode(&pair.symbol)) "/" (encode(&pair.timeframe)) } { (pair.timeframe) } }
            td {
                @if let (Some(version), Some(at)) = (&pair.artifact_version, pair.trained_at) {
                    (version) br; span.muted { (age(at, now)) }
                } @else { span.muted { "no model" } }
            }
            td.num {
                (percent(pair.ensemble_accuracy))
                @if let (Some(low), Some(high)) = (pair.ensemble_accuracy_low, pair.ensemble_accuracy_high) {
                    span.muted { (format!(" [{:.1}, {:.1}]", low * 100.0, high * 100.0)) }
                }
            }
            td.num { (percent(pair.majority_accuracy)) }
            td {
                @match pair.beats_baselines {
                    Some(true) => span.good { "yes" },
                    Some(false) => span.bad { "no" },
                    None => span.muted { "–" },
                }
            }
            td.num { (number(pair.walk_forward_score)) }
            td.num { (number(pair.live_score)) }
            td.num { (number(pair.live_composite.or(pair.trained_composite))) }
            td { @if pair.drifting() { span.bad { "drift" } } @else { span.muted { "–" } } }
            td {
                @if let Some(direction) = &pair.forecast_direction {
                    span class={ "badge " (direction) } { (direction) }
                    " " (percent(pair.forecast_confidence))
                    @if let Some(at) = pair.forecast_at { br; span.muted { (age(at, now)) } }
                } @else { span.muted { "none" } }
            }
        }
    }
}

fn render_runs(page: &RunsPage) -> Markup {
    let query = &page.query;
    layout(
        "runs",
        &html! {
            h1 { "Training runs" }
            form.filters method="get" action="/runs" {
                label { "Symbol" input type="text" name="symbol" value=(query.symbol) placeholder="any"; }
                label { "Status" (select("status", &query.status, &[("", "any"), ("succeeded", "succeeded"), ("failed", "failed"), ("up_to_date", "up to date")])) }
                button type="submit" { "Apply" }
            }
            table #runs {
                thead { tr {
                    th { "Finished" } th { "Symbol" } th { "TF" } th { "Status" } th { "Duration" } th { "Model" } th { "Error" } th { "Run" }
                } }
                tbody { @for run in &page.runs { (run_row(run)) } }
            }
            @if page.runs.is_empty() { p.muted { "No run matches." } }
            (pager(page.page, page.pages, page.total, |p| runs_link(query, p)))
        },
    )
}

fn run_row(run: &RunSummary) -> Markup {
    let duration = run.started_at.map(|started| (run.finished_at - started).as_seconds_f64());
    html! {
        tr {
            td { (run.finished_at.format("%Y-%m-%d %H:%M:%S")) }
            td { (run.symbol) }
            td { (run.timeframe) }
            td {
                @match run.status {
                    RunStatus::Succeeded => span.good { "succeeded" },
                    RunStatus::Failed => span.bad { "failed" },
                    RunStatus::UpToDate => span.muted { "up to date" },
                }
            }
            td.num { @if let Some(seconds) = duration { (format!("{seconds:.1} s")) } }
            td { @if let Some(version) = &run.artifact_version { (version) } }
            td.error { @if let Some(error) = &run.error { (error) } }
            td.muted { a href={ "/run/" (encode(&run.run_id)) } { (run.run_id) } }
        }
    }
}

/// A semicircular gauge of a value in [0, 1], as inline SVG.
fn gauge(value: f64) -> Markup {
    let value = value.clamp(0.0, 1.0);
    let angle = std::f64::consts::PI * value;
    let (x, y) = (50.0 - 40.0 * angle.cos(), 50.0 - 40.0 * angle.sin());
    html! {
        svg.gauge viewBox="0 0 100 60" width="160" height="96" role="img" aria-label={ "composite " (format!("{value:.3}")) } {
            // SVG elements inside HTML need their end tag: maud's `;` writes none.
            path d="M10,50 A40,40 0 0 1 90,50" fill="none" stroke="#e3e6eb" stroke-width="10" {}
            path d=(format!("M10,50 A40,40 0 0 1 {x:.2},{y:.2}")) fill="none" stroke="#2f6fde" stroke-width="10" {}
            text x="50" y="48" text-anchor="middle" font-size="14" { (format!("{value:.2}")) }
        }
    }
}

fn render_symbol(page: &SymbolPage) -> Markup {
    let rule = &page.rule;
    layout(
        &page.symbol,
        &html! {
            h1 { (page.symbol) }
            form.filters method="get" action={ "/symbol/" (encode(&page.symbol)) } {
                label { "Backtest weight" input type="number" step="0.05" min="0" name="wb" value=(rule.backtest); }
                label { "Walk-forward weight" input type="number" step="0.05" min="0" name="ww" value=(rule.walk_forward); }
                label { "Live weight" input type="number" step="0.05" min="0" name="wl" value=(rule.live); }
                label { "Consensus" (select("rule", page.consensus_rule.as_str(), &[("duration", "duration"), ("majority", "majority"), ("performance", "performance")])) }
                button type="submit" { "Apply" }
            }
            section #consensus {
                h2 { "Consensus" }
                @for member in &page.members {
                    span class={ "badge " (member.direction.as_str()) } { (member.timeframe.as_str()) " " (member.direction.as_str()) }
                    " "
                }
                @if let Some(consensus) = &page.consensus {
                    p {
                        "→ " strong class={ "badge " (consensus.direction.as_str()) } { (consensus.direction.as_str()) }
                        " confidence " (percent(Some(consensus.confidence)))
                        ", agreement " (percent(Some(consensus.agreement)))
                        span.muted { " (" (consensus.rule.as_str()) ")" }
                    }
                } @else { p.muted { "No forecast yet." } }
            }
            @for timeframe in &page.timeframes { (timeframe_card(timeframe, rule)) }
        },
    )
}

fn timeframe_card(view: &TimeframeView, rule: &ml_core::model::scores::CompositeRule) -> Markup {
    let pair = &view.summary;
    let scores = pair.scores();
    let parts = [
        ("Backtest", scores.map(|s| s.backtest), rule.backtest),
        ("Walk-forward", scores.and_then(|s| s.walk_forward), rule.walk_forward),
        ("Live", scores.and_then(|s| s.live), rule.live),
    ];
    html! {
        section.card {
            h2 { (pair.timeframe) }
            @if let Some(composite) = &view.composite {
                (gauge(composite.value))
                @if !composite.missing.is_empty() { p.muted { "without " (composite.missing.join(", ")) } }
            } @else { p.muted { "No scores yet." } }
            table.breakdown {
                thead { tr { th { "Score" } th { "Value" } th { "Weight" } } }
                tbody {
                    @for (name, score, weight) in parts {
                        tr { td { (name) } td.num { (number(score.map(|s| s.value))) } td.num { (format!("{weight:.2}")) } }
                    }
                }
            }
            p {
                "Drift: " @if pair.drifting() { span.bad { "yes" } } @else { span.good { "no" } }
                " · Ensemble: "
                @if let (Some(rf), Some(gb)) = (pair.rf_weight, pair.gb_weight) {
                    (format!("RF {:.0} % / GB {:.0} %", rf * 100.0, gb * 100.0))
                } @else { span.muted { "–" } }
            }
        }
    }
}

fn render_run(jobs: &RunJobs) -> Markup {
    layout(
        "run",
        &html! {
            h1 { "Run " (jobs.run_id) }
            @if jobs.training.is_empty() && jobs.forecasts.is_empty() && jobs.pings == 0 {
                p.muted { "No job of this run has a result yet." }
            }
            @if !jobs.training.is_empty() {
                h2 { "Training" }
                table #training {
                    thead { tr { th { "Finished" } th { "Symbol" } th { "TF" } th { "Status" } th { "Duration" } th { "Model" } th { "Error" } th { "Run" } } }
                    tbody { @for run in &jobs.training { (run_row(run)) } }
                }
            }
            @if !jobs.forecasts.is_empty() {
                h2 { "Forecasts" }
                table #forecasts {
                    thead { tr { th { "Made" } th { "Symbol" } th { "TF" } th { "Direction" } th { "Confidence" } th { "Model" } th { "Error" } } }
                    tbody {
                        @for forecast in &jobs.forecasts {
                            tr {
                                td { (forecast.generated_at.format("%Y-%m-%d %H:%M:%S")) }
                                td { (forecast.symbol) }
                                td { (forecast.timeframe) }
                                td { @if let Some(direction) = &forecast.direction { span class={ "badge " (direction) } { (direction) } } }
                                td.num { (percent(forecast.confidence)) }
                                td { @if let Some(version) = &forecast.artifact_version { (version) } }
                                td.error { @if let Some(error) = &forecast.error { (error) } }
                            }
                        }
                    }
                }
            }
            @if jobs.pings > 0 { p { (jobs.pings) " pings" } }
        },
    )
}
