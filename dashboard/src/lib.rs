//! The validation dashboard role: the results database, the queue and the artifact store as
//! server-rendered pages, each also JSON under `/api/` from the same structs. It reads the
//! results through `fleet::database` (give it credentials that can only `SELECT`) and the
//! store with read-only credentials; its one write, an operator's retry or delete of a dead
//! job, is off unless a token is set. [`run`] serves it until its [`Shutdown`] is triggered.

mod artifacts;
mod operator;
mod pages;
mod pair;
mod queue;
mod views;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use fleet::config::{DatabaseConfig, QueueConfig, StoreConfig};
use fleet::database::{Database, DatabaseError};
use fleet::ops::{Ops, OpsConfig};
use fleet::queue::Queue;
use fleet::shutdown::Shutdown;
use fleet::store::{ArtifactStore, StoreError};
use prometheus_client::registry::Registry;

pub use crate::operator::OperatorToken;
use crate::pages::PageError;

/// Where the dashboard reads and listens. Only the results database is required; without a
/// queue or a store their pages say what to set.
#[derive(Debug, Clone)]
pub struct Config {
    /// The results database: give it a role that can only SELECT (README).
    pub database: DatabaseConfig,
    /// The queue page's queue.
    pub queue: Option<QueueConfig>,
    /// The artifact browser's store: read-only credentials are enough.
    pub store: Option<StoreConfig>,
    /// Turns on the queue page's write actions (retry or delete a dead job) for whoever gives
    /// this token. `None` (or empty): the dashboard only reads.
    pub token: Option<String>,
    /// Where the pages are served. Loopback by default: expose it on purpose.
    pub addr: SocketAddr,
    pub ops: OpsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database: DatabaseConfig::default(),
            queue: None,
            store: None,
            token: None,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            ops: OpsConfig::default(),
        }
    }
}

/// Why the dashboard could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("the results database failed")]
    Database(#[from] DatabaseError),
    #[error("cannot open the artifact store")]
    Store(#[from] StoreError),
    #[error("DASHBOARD_TOKEN cannot be used: {0}")]
    Token(String),
    #[error("cannot listen on DASHBOARD_ADDR {addr}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("cannot serve the operator's endpoint")]
    Ops(#[source] std::io::Error),
    #[error("the page server failed")]
    Serve(#[source] std::io::Error),
}

impl DashboardError {
    /// Only a store that is away may be there at the next start; the database is connected
    /// on first use, and the rest are settings.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Database(error) => error.is_retryable(),
            Self::Store(error) => error.is_retryable(),
            Self::Token(_) | Self::Listen { .. } | Self::Ops(_) | Self::Serve(_) => false,
        }
    }
}

/// What the pages read: the results database, and the queue and store if configured.
pub struct Sources {
    pub database: Database,
    queue: Option<QueueConfig>,
    /// Connected on first use, so that a queue down at start-up only greys its page.
    connected: tokio::sync::OnceCell<Queue>,
    store: Option<ArtifactStore>,
    token: Option<OperatorToken>,
}

impl std::fmt::Debug for Sources {
    // By hand: the token, and the passwords in the database and Redis URLs, stay out of it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("queue_prefix", &self.queue.as_ref().map(|queue| &queue.prefix))
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
    pub fn with_queue(self, queue: QueueConfig) -> Self {
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

/// Serves the dashboard until `shutdown` is triggered; returns once its servers have ended.
pub async fn run(config: Config, shutdown: &Shutdown) -> Result<(), DashboardError> {
    let tasks = shutdown.child();
    let outcome = serve(config, &tasks).await;
    tasks.stop().await;
    outcome
}

async fn serve(config: Config, shutdown: &Shutdown) -> Result<(), DashboardError> {
    let ops = Ops::serve(Registry::default(), &config.ops, shutdown).await.map_err(DashboardError::Ops)?;
    // A database that is down now may come back: the pages say so meanwhile.
    let mut sources = Sources::new(Database::connect_lazy(&config.database).await?);
    if let Some(queue) = config.queue {
        sources = sources.with_queue(queue);
    }
    if let Some(store) = &config.store {
        sources = sources.with_store(ArtifactStore::open(store)?);
    }
    // Empty is unset: compose passes `${DASHBOARD_TOKEN:-}`.
    if let Some(token) = config.token.as_deref().filter(|token| !token.is_empty()) {
        sources = sources.with_token(OperatorToken::new(token).map_err(DashboardError::Token)?);
    }
    let listen = |source| DashboardError::Listen { addr: config.addr, source };
    let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(listen)?;
    tracing::info!(
        addr = %listener.local_addr().map_err(listen)?,
        queue = sources.queue.is_some(),
        store = sources.store.is_some(),
        write_actions = sources.token.is_some(),
        "dashboard listening"
    );
    ops.set_ready(true);
    axum::serve(listener, router(sources))
        .with_graceful_shutdown(shutdown.triggered_owned())
        .await
        .map_err(DashboardError::Serve)?;
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
