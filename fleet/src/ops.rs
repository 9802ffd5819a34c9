//! What an operator sees of a running worker or collector, on `METRICS_ADDR`: Prometheus
//! metrics on `/metrics`, liveness on `/healthz` (the process answers) and readiness on
//! `/readyz` (it has its connections and takes work).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

use crate::shutdown::Shutdown;

/// Where the operator's endpoint listens.
#[derive(Debug, Clone, Default)]
pub struct OpsConfig {
    /// Where /metrics, /healthz and /readyz are served (port 0: any free port). `None`: port
    /// [`DEFAULT_METRICS_PORT`] on every interface, or the next free one when several
    /// processes share a host (logged).
    pub metrics_addr: Option<SocketAddr>,
}

/// The operator's port when `METRICS_ADDR` is unset (the Kubernetes manifests probe it).
pub const DEFAULT_METRICS_PORT: u16 = 9090;
/// How many ports after [`DEFAULT_METRICS_PORT`] an unconfigured process tries: one per
/// worker or collector on a host, with room to spare.
const DEFAULT_PORTS_TRIED: u16 = 100;

impl OpsConfig {
    /// Any free port on the loopback interface: nothing exposed, nothing clashes.
    pub fn loopback_any_port() -> Self {
        Self { metrics_addr: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))) }
    }

    /// A listener on the configured address (it must be free), or on the first free default
    /// port.
    async fn listen(&self) -> std::io::Result<tokio::net::TcpListener> {
        if let Some(addr) = self.metrics_addr {
            return tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on METRICS_ADDR {addr}: {e}"))
            });
        }
        let default = SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_METRICS_PORT));
        for port in DEFAULT_METRICS_PORT..DEFAULT_METRICS_PORT + DEFAULT_PORTS_TRIED {
            let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
            match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => {
                    if port != DEFAULT_METRICS_PORT {
                        tracing::warn!(%default, %addr, "default metrics port taken, serving on the next free one");
                    }
                    return Ok(listener);
                }
                Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {}
                Err(error) => {
                    return Err(std::io::Error::new(
                        error.kind(),
                        format!("cannot listen on {addr}: {error}"),
                    ));
                }
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!(
                "ports {DEFAULT_METRICS_PORT} to {} are all taken: set METRICS_ADDR",
                DEFAULT_METRICS_PORT + DEFAULT_PORTS_TRIED - 1
            ),
        ))
    }
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
    /// Starts serving the registry's metrics (not ready yet) as a task of `shutdown`, until it
    /// is triggered. Fails if the configured address is taken.
    pub async fn serve(registry: Registry, args: &OpsConfig, shutdown: &Shutdown) -> std::io::Result<Self> {
        let listener = args.listen().await?;
        let addr = listener.local_addr()?;
        let ready = Arc::new(AtomicBool::new(false));
        let served = Served { registry: Arc::new(registry), ready: ready.clone() };
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readiness))
            .with_state(served);
        let stopped = shutdown.triggered_owned();
        shutdown.spawn(async move {
            if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
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
