//! The fleet's plumbing, shared by the producer, the workers and the collector: everything
//! that talks to Redis, SQLite, a database or object storage, so that `shared` (the ML core) does no network I/O.
//!
//! - [`backoff`]: delays between attempts while a server is down.
//! - [`config`]: the settings every binary takes from flags or the environment.
//! - [`database`]: the results database, Postgres or SQLite.
//! - [`lifecycle`]: the rules of expiry, promotion and retention.
//! - [`ops`]: `/metrics`, `/healthz` and `/readyz` for operators.
//! - [`sqlite`]: SQLite files shared by the processes of one machine (embedded mode).
//! - [`store`]: bar snapshots and models in S3 or a local folder.
//! - [`queue`]: the jobs queue (apalis on Redis or SQLite) and its settings.
//! - [`results`]: the stream (or outbox) that carries results to the collector.
//! - [`telemetry`]: logs, and traces exported over OpenTelemetry across processes.

pub mod backoff;
pub mod config;
pub mod database;
pub mod lifecycle;
pub mod ops;
pub mod queue;
pub mod results;
pub mod sqlite;
pub mod store;
pub mod telemetry;

/// This machine's name (the pod's, in Kubernetes), for worker and consumer names.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map_or_else(|| "localhost".to_owned(), |name| name.trim().to_owned())
}

/// Resolves on SIGTERM (what orchestrators send) or SIGINT (Ctrl-C in a terminal).
pub async fn shutdown_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
        result = tokio::signal::ctrl_c() => {
            result?;
            tracing::info!(signal = "SIGINT", "shutting down");
        }
    }
    Ok(())
}
