//! The queue page: how many jobs are where, and the dead jobs with their errors. Read-only
//! unless `DASHBOARD_TOKEN` is set; then an operator who gave the token (once, through the
//! page's form, kept in a same-site cookie; or per request as a bearer token) may retry or
//! delete a dead job.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use fleet::queue::{DeadJobs, Depth};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::operator::Proof;
use crate::pages::{Ctx, PageError, as_html, as_json, error_page, layout, pager};
use crate::views::PER_PAGE;
use crate::{Sources, operator};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct QueueQuery {
    pub page: usize,
}

/// Everything the queue page shows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueuePage {
    /// The queue's name and kind (`redis` or `sqlite`), never its URL.
    pub queue: String,
    pub backend: &'static str,
    pub depth: Depth,
    pub dead: DeadJobs,
    pub page: usize,
    pub pages: usize,
    /// Whether write actions are on (a token is configured), and whether this reader
    /// unlocked them (the buttons are shown; each action is checked again).
    pub actions_enabled: bool,
    pub operator: bool,
}

async fn queue_page(
    sources: &Sources,
    query: QueueQuery,
    headers: &HeaderMap,
) -> Result<QueuePage, PageError> {
    let queue = sources.queue().await?;
    let depth = queue.depth().await?;
    let pages = depth.dead.div_ceil(PER_PAGE).max(1);
    let page = query.page.clamp(1, pages);
    let dead = queue.dead_jobs(PER_PAGE, (page - 1) * PER_PAGE).await?;
    let backend = match queue.backend() {
        fleet::queue::Backend::Redis(_) => "redis",
        fleet::queue::Backend::Sqlite(_) => "sqlite",
    };
    Ok(QueuePage {
        queue: queue.name(),
        backend,
        depth,
        dead,
        page,
        pages,
        actions_enabled: sources.token.is_some(),
        operator: operator::unlocked(sources.token.as_ref(), headers),
    })
}

pub(crate) async fn page(
    State(sources): Ctx,
    Query(query): Query<QueueQuery>,
    headers: HeaderMap,
) -> Response {
    as_html(queue_page(&sources, query, &headers).await, render)
}

pub(crate) async fn json(
    State(sources): Ctx,
    Query(query): Query<QueueQuery>,
    headers: HeaderMap,
) -> Response {
    as_json(queue_page(&sources, query, &headers).await)
}

/// What an operator does to a dead job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Action {
    Retry,
    Delete,
}

#[derive(Serialize)]
struct Done {
    job_id: Uuid,
    action: Action,
    /// False if the job was not dead (already retried or deleted, or never dead).
    applied: bool,
}

async fn act(
    sources: &Sources,
    headers: &HeaderMap,
    proof: Proof,
    id: &str,
    action: Action,
) -> Result<Done, PageError> {
    operator::require(sources.token.as_ref(), headers, proof)?;
    let job_id: Uuid = id.parse().map_err(|e| {
        PageError::Refused(StatusCode::BAD_REQUEST, format!("job id {id:?} is not a uuid: {e}"))
    })?;
    let queue = sources.queue().await?;
    let applied = match action {
        Action::Retry => queue.retry_dead(job_id).await?,
        Action::Delete => queue.delete_dead(job_id).await?,
    };
    tracing::info!(job_id = %job_id, action = ?action, applied, "operator acted on a dead job");
    Ok(Done { job_id, action, applied })
}

/// The page's buttons: act, then back to the queue page.
pub(crate) async fn act_from_page(
    State(sources): Ctx,
    headers: HeaderMap,
    Path((id, action)): Path<(String, Action)>,
) -> Response {
    match act(&sources, &headers, Proof::BearerOrCookie, &id, action).await {
        Ok(_) => Redirect::to("/queue").into_response(),
        Err(error) => error_page(error),
    }
}

/// The same for scripts: `POST /api/queue/dead/{id}/{retry|delete}` with
/// `Authorization: Bearer $DASHBOARD_TOKEN`.
pub(crate) async fn act_from_api(
    State(sources): Ctx,
    headers: HeaderMap,
    Path((id, action)): Path<(String, Action)>,
) -> Response {
    as_json(act(&sources, &headers, Proof::Bearer, &id, action).await)
}

/// The token form: checks the token and keeps it in a cookie for this site only.
pub(crate) async fn unlock(State(sources): Ctx, body: axum::body::Bytes) -> Response {
    let given = url::form_urlencoded::parse(&body)
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    match operator::cookie_for(sources.token.as_ref(), &given) {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/queue")).into_response(),
        Err(error) => error_page(error),
    }
}

fn render(page: &QueuePage) -> Markup {
    let depth = &page.depth;
    let counts = [
        ("waiting", depth.waiting),
        ("in flight", depth.in_flight),
        ("retrying", depth.retrying),
        ("dead", depth.dead),
        ("done, not swept", depth.done),
        ("workers alive", depth.workers_alive),
    ];
    layout(
        "queue",
        &html! {
            h1 { "Queue " span.muted { (page.queue) " (" (page.backend) ")" } }
            div.counts #depth {
                @for (name, count) in counts {
                    div.count { strong { (count) } br; span.muted { (name) } }
                }
            }
            @if !page.actions_enabled {
                p.muted { "Read-only: set DASHBOARD_TOKEN to retry or delete dead jobs here." }
            } @else if !page.operator {
                form.filters method="post" action="/queue/unlock" {
                    label { "Operator token" input type="password" name="token" autocomplete="off"; }
                    button type="submit" { "Unlock actions" }
                }
            }
            h2 { "Dead jobs" }
            table #dead {
                thead { tr { th { "Died" } th { "Job" } th { "Attempts" } th { "Error" } th { "Payload" } @if page.operator { th { "" } } } }
                tbody {
                    @for job in &page.dead.jobs {
                        tr {
                            td { @if let Some(at) = job.died_at { (at.format("%Y-%m-%d %H:%M:%S")) } }
                            td.muted { (job.job_id) }
                            td.num { (job.attempts) }
                            td.error { @if let Some(error) = &job.error { (error) } }
                            td { code.payload { (job.payload) @if job.truncated { "…" } } }
                            @if page.operator {
                                td {
                                    form.inline method="post" action={ "/queue/dead/" (job.job_id) "/retry" } { button type="submit" { "Retry" } }
                                    form.inline method="post" action={ "/queue/dead/" (job.job_id) "/delete" } { button type="submit" { "Delete" } }
                                }
                            }
                        }
                    }
                }
            }
            @if page.dead.jobs.is_empty() { p.muted { "No dead job." } }
            (pager(page.page, page.pages, page.dead.total, |p| format!("/queue?page={p}")))
        },
    )
}
