//! What an operator sees of a running worker or collector, on `METRICS_ADDR`: Prometheus
//! metrics on `/metrics`, liveness on `/healthz` (the process answers) and readiness on
//! `/readyz` (it has its connections and takes work).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use clap::Args;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Args)]
pub struct OpsArgs {
    /// Where /metrics, /healthz and /readyz are served; port 0 takes a free port (logged).
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:9090")]
    pub metrics_addr: SocketAddr,
}

/// The process's side of the operator's view: it says when it is ready.
#[derive(Debug, Clone)]
pub struct Ops {
    ready: Arc<AtomicBool>,
}

#[derive(Debug, Clone)]
struct Served {
    registry: Arc<Registry>,
    ready: Arc<AtomicBool>,
}

impl Ops {
    /// Starts serving the registry's metrics (not ready yet). Fails if the address is taken.
    pub async fn serve(registry: Registry, args: &OpsArgs) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(args.metrics_addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on METRICS_ADDR {}: {e}", args.metrics_addr))
        })?;
        let addr = listener.local_addr()?;
        let ready = Arc::new(AtomicBool::new(false));
        let served = Served { registry: Arc::new(registry), ready: ready.clone() };
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readiness))
            .with_state(served);
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(error = %error, "the metrics server stopped");
            }
        });
        tracing::info!(%addr, "metrics server listening");
        Ok(Self { ready })
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}

async fn metrics(State(served): State<Served>) -> impl IntoResponse {
    let mut body = String::new();
    match encode(&mut body, &served.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            body,
        ),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("cannot encode the metrics: {error}\n"),
        ),
    }
}

async fn readiness(State(served): State<Served>) -> (StatusCode, &'static str) {
    if served.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
