//! The job queue: apalis-redis with the settings `../shared/CRATES.md` found necessary.
//!
//! - Workers poll every [`POLL_INTERVAL`] instead of sleeping until their next heartbeat.
//! - Heartbeats every [`HEARTBEAT`], and [`MISSED_HEARTBEATS`] missed ones make a worker dead:
//!   a killed worker's jobs are back in the queue in about 10 s, not apalis's default 300 s.
//! - A job pushed with an idempotency key that is already claimed is not enqueued again.
//! - Jobs are pushed onto the active list by our own script (`lua/push.lua` says why), and
//!   task leases are off (see [`jobs_config`]).
//! - The Redis connection answers within [`RESPONSE_TIMEOUT`], not redis-rs's 500 ms default,
//!   which kills worker pools under load (apalis-redis issue 76).

use std::sync::LazyLock;
use std::time::Duration;

pub use apalis_redis::{Config, ConnectionManager};
use redis::aio::ConnectionManagerConfig;
use shared::job::Job;
use uuid::Uuid;

use crate::config::RedisArgs;

pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
pub const HEARTBEAT: Duration = Duration::from_secs(5);
pub const MISSED_HEARTBEATS: usize = 2;
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idempotency key keeps a job from being enqueued twice. Keys of failed jobs
/// are released by the worker, so a failure can be retried at once.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis at REDIS_URL is unreachable or failed")]
    Redis(#[from] redis::RedisError),
}

impl QueueError {
    /// Redis problems pass when Redis comes back.
    pub fn is_retryable(&self) -> bool {
        true
    }
}

/// A connection manager that reconnects by itself, with a bounded connect time.
pub async fn connect(args: &RedisArgs) -> Result<ConnectionManager, QueueError> {
    let client = redis::Client::open(args.redis_url.as_str())?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(3);
    Ok(client.get_connection_manager_with_config(config).await?)
}

/// The apalis settings of the jobs queue. `batch_size` is how many jobs a worker takes at
/// once: no more than it runs at once, or jobs wait behind a busy worker while others idle.
pub fn jobs_config(prefix: &str, batch_size: usize) -> Config {
    Config::default()
        .queue(format!("{prefix}:jobs"))
        .batch_size(batch_size.max(1))
        .heartbeat_interval(HEARTBEAT)
        .missed_heartbeats(MISSED_HEARTBEATS)
        .idempotency_ttl(Some(IDEMPOTENCY_TTL))
        .emit_events(false)
        // Leases add nothing to orphan recovery (the in-flight set and heartbeats do that),
        // and taking one runs LREM over the whole waiting list per job: with 50,000 jobs
        // waiting, Redis spent 250 ms per batch of 256 on it (docs/benchmarks.md).
        .lock_tasks(false)
}

/// The Redis key that holds an idempotency key's claim.
pub fn idempotency_claim(config: &Config, idempotency_key: &str) -> String {
    format!("{}:{idempotency_key}", config.idempotency_key_set())
}

/// Pushes jobs onto the active list, in chunks. Returns how many were enqueued: a job whose
/// idempotency key is already claimed is not. `push.lua` says why this is not apalis-redis's
/// own push.
pub async fn push(conn: &mut ConnectionManager, config: &Config, jobs: &[Job]) -> Result<usize, QueueError> {
    static PUSH: LazyLock<redis::Script> =
        LazyLock::new(|| redis::Script::new(include_str!("../lua/push.lua")));
    let mut enqueued = 0;
    // One script call per thousand keeps each Redis command short.
    for chunk in jobs.chunks(1000) {
        let mut invocation = PUSH.prepare_invoke();
        invocation
            .key(config.job_data_hash())
            .key(config.active_jobs_list())
            .key(config.signal_list())
            .key(config.job_meta_hash())
            .key(config.idempotency_key_set())
            .arg(config.idempotency_ttl.map_or(0, |ttl| ttl.as_secs()));
        for job in chunk {
            let payload = serde_json::to_vec(job).expect("a job serialises");
            invocation
                .arg(task_id(job.job_id))
                .arg(payload)
                .arg(job.idempotency_key.as_deref().unwrap_or(""));
        }
        let count: usize = invocation.invoke_async(conn).await?;
        enqueued += count;
    }
    Ok(enqueued)
}

/// Jobs waiting in the queue, for all workers.
pub async fn waiting(conn: &mut ConnectionManager, config: &Config) -> Result<usize, QueueError> {
    Ok(redis::cmd("LLEN").arg(config.active_jobs_list()).query_async(conn).await?)
}

/// Forgets up to `max` finished jobs (payload and metadata; results live on the results
/// stream), oldest or not. Returns how many; call it until it returns less than `max`.
pub async fn sweep_done(
    conn: &mut ConnectionManager,
    config: &Config,
    max: usize,
) -> Result<usize, QueueError> {
    static SWEEP: LazyLock<redis::Script> =
        LazyLock::new(|| redis::Script::new(include_str!("../lua/sweep_done.lua")));
    Ok(SWEEP
        .key(config.done_jobs_set())
        .key(config.job_data_hash())
        .key(config.job_meta_hash())
        .arg(max)
        .invoke_async(conn)
        .await?)
}

/// The queue's id of a job: its uuid as a ULID (both are 128 bits), the id type apalis-redis
/// parses, so that the queue's records of a job can be found from its result and back.
pub fn task_id(job_id: Uuid) -> String {
    ulid::Ulid::from(job_id.as_u128()).to_string()
}

/// Whether the queue gave up on a job (its payload unreadable, or out of attempts).
pub async fn is_dead(
    conn: &mut ConnectionManager,
    config: &Config,
    job_id: Uuid,
) -> Result<bool, QueueError> {
    Ok(redis::cmd("SISMEMBER").arg(config.dead_jobs_set()).arg(task_id(job_id)).query_async(conn).await?)
}
