//! The validation dashboard: the results database, the queue and the artifact store as
//! server-rendered pages, each also JSON under `/api/` from the same structs. It reads the
//! results through `fleet::database` (give it credentials that can only `SELECT`) and the
//! store with read-only credentials; its one write, an operator's retry or delete of a dead
//! job, is off unless `DASHBOARD_TOKEN` is set.
//!
//! `main.rs` only parses the command line and calls [`serve`].

mod artifacts;
mod operator;
mod pages;
mod pair;
mod queue;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use clap::{Args, Parser};
use fleet::config::{DatabaseArgs, QueueArgs, QueueBackendArgs, S3Args, StoreArgs, sqlite_url};
use fleet::database::Database;
use fleet::ops::{Ops, OpsArgs};
use fleet::queue::Queue;
use fleet::store::ArtifactStore;
use prometheus_client::registry::Registry;

pub use crate::operator::OperatorToken;
use crate::pages::PageError;

/// boltfleet dashboard: the fleet's results in a browser.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(flatten)]
    pub args: DashboardArgs,
}

/// Where the dashboard reads: one embedded fleet's data directory, or the servers' URLs.
/// Only the results database is required; without a queue or a store their pages say so.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// An embedded fleet's data directory (what `producer demo` made): its fleet.db,
    /// queue.db and artifacts/, instead of the URLs below.
    #[arg(long, env = "BOLTFLEET_DATA_DIR", conflicts_with_all = ["database_url", "redis_url", "queue_url", "artifacts_url"])]
    pub data_dir: Option<PathBuf>,
    /// The results database: give it a role that can only SELECT (README).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, required_unless_present = "data_dir")]
    pub database_url: Option<String>,
    /// The queue page's Redis. May hold a password: never shown.
    #[arg(long, env = "REDIS_URL", hide_env_values = true, conflicts_with = "queue_url")]
    pub redis_url: Option<String>,
    /// The queue page's SQLite queue: sqlite:///absolute/path/queue.db.
    #[arg(long, env = "QUEUE_URL")]
    pub queue_url: Option<String>,
    #[arg(long, env = "QUEUE_PREFIX", default_value = "boltfleet")]
    pub queue_prefix: String,
    /// The artifact browser's store: s3://bucket[/prefix] or file:///path. Read-only
    /// credentials are enough.
    #[arg(long, env = "ARTIFACTS_URL")]
    pub artifacts_url: Option<String>,
    #[command(flatten)]
    pub s3: S3Args,
    /// Turns on the queue page's write actions (retry or delete a dead job) for whoever
    /// gives this token. Unset: the dashboard only reads.
    #[arg(long, env = "DASHBOARD_TOKEN", hide_env_values = true)]
    pub dashboard_token: Option<String>,
    /// Where the pages are served. Loopback by default: expose it on purpose.
    #[arg(long, env = "DASHBOARD_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub ops: OpsArgs,
}

impl DashboardArgs {
    /// The database, queue and store these settings name.
    fn sources(&self) -> anyhow::Result<(DatabaseArgs, Option<QueueArgs>, Option<StoreArgs>)> {
        if let Some(dir) = &self.data_dir {
            let dir = dir.canonicalize().with_context(|| {
                format!("no fleet data directory at {}: run `producer demo` first", dir.display())
            })?;
            return Ok((
                DatabaseArgs { database_url: sqlite_url(&dir.join("fleet.db")) },
                Some(QueueArgs::sqlite(&dir.join("queue.db"), &self.queue_prefix)),
                Some(StoreArgs::folder(&dir.join("artifacts"))),
            ));
        }
        let database_url = self.database_url.clone().context("DATABASE_URL or --data-dir is required")?;
        let queue = (self.redis_url.is_some() || self.queue_url.is_some()).then(|| QueueArgs {
            backend: QueueBackendArgs {
                redis_url: self.redis_url.clone(),
                queue_url: self.queue_url.clone(),
            },
            queue_prefix: self.queue_prefix.clone(),
        });
        let store =
            self.artifacts_url.clone().map(|artifacts_url| StoreArgs { artifacts_url, s3: self.s3.clone() });
        Ok((DatabaseArgs { database_url }, queue, store))
    }
}

/// What the pages read: the results database, and the queue and store if configured.
pub struct Sources {
    pub database: Database,
    queue: Option<QueueArgs>,
    /// Connected on first use, so that a queue down at start-up only greys its page.
    connected: tokio::sync::OnceCell<Queue>,
    store: Option<ArtifactStore>,
    token: Option<OperatorToken>,
}

impl std::fmt::Debug for Sources {
    // By hand: the token, and the passwords in the database and Redis URLs, stay out of it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("queue_prefix", &self.queue.as_ref().map(|queue| &queue.queue_prefix))
            .field("store", &self.store.as_ref().map(ArtifactStore::url))
            .field("write_actions", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

impl Sources {
    pub fn new(database: Database) -> Self {
        Self { database, queue: None, connected: tokio::sync::OnceCell::new(), store: None, token: None }
    }

    #[must_use]
    pub fn with_queue(self, queue: QueueArgs) -> Self {
        Self { queue: Some(queue), ..self }
    }

    #[must_use]
    pub fn with_store(self, store: ArtifactStore) -> Self {
        Self { store: Some(store), ..self }
    }

    /// Turns on write actions for whoever gives `token`.
    #[must_use]
    pub fn with_token(self, token: OperatorToken) -> Self {
        Self { token: Some(token), ..self }
    }

    pub(crate) async fn queue(&self) -> Result<&Queue, PageError> {
        let args = self.queue.as_ref().ok_or_else(|| {
            PageError::Refused(
                StatusCode::NOT_FOUND,
                "no queue is configured: set REDIS_URL or QUEUE_URL (or --data-dir)".to_owned(),
            )
        })?;
        Ok(self.connected.get_or_try_init(|| Queue::connect(args)).await?)
    }

    pub(crate) fn store(&self) -> Result<&ArtifactStore, PageError> {
        self.store.as_ref().ok_or_else(|| {
            PageError::Refused(
                StatusCode::NOT_FOUND,
                "no artifact store is configured: set ARTIFACTS_URL (or --data-dir)".to_owned(),
            )
        })
    }

    /// Whether a store is configured, for pages that link into it.
    pub(crate) fn has_store(&self) -> bool {
        self.store.is_some()
    }
}

/// Serves the dashboard until `shutdown` resolves.
pub async fn serve(
    args: DashboardArgs,
    shutdown: impl Future<Output = std::io::Result<()>> + Send + 'static,
) -> anyhow::Result<()> {
    let ops = Ops::serve(Registry::default(), &args.ops).await?;
    let (database, queue, store) = args.sources()?;
    // A database that is down now may come back: the pages say so meanwhile.
    let mut sources = Sources::new(Database::connect_lazy(&database).await?);
    if let Some(queue) = queue {
        sources = sources.with_queue(queue);
    }
    if let Some(store) = store {
        sources = sources.with_store(ArtifactStore::open(&store)?);
    }
    // Empty is unset: compose passes `${DASHBOARD_TOKEN:-}`.
    if let Some(token) = args.dashboard_token.as_deref().filter(|token| !token.is_empty()) {
        sources = sources.with_token(OperatorToken::new(token).map_err(anyhow::Error::msg)?);
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on DASHBOARD_ADDR {}", args.addr))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        queue = sources.queue.is_some(),
        store = sources.store.is_some(),
        write_actions = sources.token.is_some(),
        "dashboard listening"
    );
    ops.set_ready(true);
    axum::serve(listener, router(sources))
        .with_graceful_shutdown(async {
            if let Err(error) = shutdown.await {
                tracing::error!(error = %error, "cannot listen for signals; stopping");
            }
        })
        .await?;
    tracing::info!("dashboard stopped");
    Ok(())
}

/// Every page and API route, over what `sources` can read.
pub fn router(sources: Sources) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/api/overview", get(pages::overview_json))
        .route("/symbol/{symbol}", get(pages::symbol))
        .route("/api/symbol/{symbol}", get(pages::symbol_json))
        .route("/pair/{symbol}/{timeframe}", get(pair::pair))
        .route("/api/pair/{symbol}/{timeframe}", get(pair::pair_json))
        .route("/runs", get(pages::runs))
        .route("/api/runs", get(pages::runs_json))
        .route("/run/{run_id}", get(pages::run))
        .route("/api/run/{run_id}", get(pages::run_json))
        .route("/queue", get(queue::page))
        .route("/api/queue", get(queue::json))
        .route("/queue/unlock", post(queue::unlock))
        .route("/queue/dead/{job_id}/{action}", post(queue::act_from_page))
        .route("/api/queue/dead/{job_id}/{action}", post(queue::act_from_api))
        .route("/artifacts", get(artifacts::folder))
        .route("/api/artifacts", get(artifacts::folder_json))
        .route("/artifacts/file", get(artifacts::file))
        .route("/artifacts/download", get(artifacts::download))
        .route("/assets/style.css", get(pages::style))
        .with_state(Arc::new(sources))
}
