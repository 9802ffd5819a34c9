//! The fleet's plumbing, shared by the producer, the workers and the collector: everything
//! that talks to Redis, SQLite, a database or object storage, so that `ml-core` does no network I/O.
//!
//! - [`backoff`]: delays between attempts while a server is down.
//! - [`config`]: where the services are, as plain typed settings.
//! - [`database`]: the results database, Postgres or SQLite.
//! - [`lifecycle`]: the rules of expiry, promotion and retention.
//! - [`ops`]: `/metrics`, `/healthz` and `/readyz` for operators.
//! - [`sqlite`]: SQLite files shared by the processes of one machine (embedded mode).
//! - [`store`]: bar snapshots and models in S3 or a local folder.
//! - [`queue`]: the jobs queue (apalis on Redis or SQLite) and its settings.
//! - [`results`]: the stream (or outbox) that carries results to the collector.
//! - [`shutdown`]: one lifecycle: the stop signal of a group of tasks, and the wait for them.
//! - [`telemetry`]: logs, and traces exported over OpenTelemetry across processes.

pub mod backoff;
pub mod config;
pub mod database;
pub mod lifecycle;
pub mod ops;
pub mod queue;
pub mod shutdown;
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
