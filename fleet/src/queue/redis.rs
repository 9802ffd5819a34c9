//! The jobs queue on Redis: apalis-redis's keys, written and read by our own commands and
//! scripts (`lua/`) where apalis-redis has none, one function per operation of [`Queue`].
//!
//! [`Queue`]: super::Queue

pub(super) mod lease;
pub(super) mod results;

use std::sync::LazyLock;
use std::time::Duration;

use apalis_redis::{Config, ConnectionManager};
use redis::aio::ConnectionManagerConfig;

use super::inspect::{DeadJob, DeadJobs, Depth};
use super::{IDEMPOTENCY_TTL, QueueError, RawJob, redis_is_transient, task_id};

/// A connection manager that reconnects by itself, with a bounded connect time and answers
/// awaited for up to `response_timeout`.
pub(super) async fn connect(url: &str, response_timeout: Duration) -> Result<ConnectionManager, QueueError> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(3);
    Ok(client.get_connection_manager_with_config(config).await?)
}

/// Refuses a server that may evict keys (`maxmemory-policy` other than `noeviction`) unless
/// `allowed`: under memory pressure it drops whole jobs, or a job's metadata hash while its
/// data stays, which is how a worker's pool once met a job it could not read. The policy
/// comes from `INFO memory`, which managed servers answer where they refuse `CONFIG GET`; a
/// server that answers neither way is let through with a warning.
pub(super) async fn check_eviction_policy(conn: &ConnectionManager, allowed: bool) -> Result<(), QueueError> {
    let info: String = match redis::cmd("INFO").arg("memory").query_async(&mut conn.clone()).await {
        Ok(info) => info,
        Err(error) if redis_is_transient(&error) => return Err(error.into()),
        Err(error) => {
            tracing::warn!(%error, "cannot read redis's maxmemory-policy: make sure it is noeviction");
            return Ok(());
        }
    };
    match info.lines().find_map(|line| line.strip_prefix("maxmemory_policy:")).map(str::trim) {
        Some("noeviction") => Ok(()),
        Some(policy) if allowed => {
            tracing::warn!(
                policy,
                "redis may evict queued jobs when its memory runs short (allowed by ALLOW_EVICTING_REDIS)"
            );
            Ok(())
        }
        Some(policy) => Err(QueueError::EvictingRedis { policy: policy.to_owned() }),
        None => {
            tracing::warn!("redis does not report its maxmemory-policy: make sure it is noeviction");
            Ok(())
        }
    }
}

/// apalis-redis's names of the jobs queue's keys.
pub fn jobs_config(prefix: &str) -> Config {
    Config::default().queue(format!("{prefix}:jobs")).idempotency_ttl(Some(IDEMPOTENCY_TTL))
}

/// The key whose value is the task that claimed an idempotency key (`push.lua`).
fn claim(keys: &Config, idempotency_key: &str) -> String {
    format!("{}:{idempotency_key}", keys.idempotency_key_set())
}

/// Pushes jobs onto apalis-redis's active list, in chunks, with `push.lua`.
pub(super) async fn push(
    conn: &ConnectionManager,
    keys: &Config,
    jobs: &[RawJob],
) -> Result<usize, QueueError> {
    static PUSH: LazyLock<redis::Script> =
        LazyLock::new(|| redis::Script::new(include_str!("../../lua/push.lua")));
    let mut conn = conn.clone();
    let mut enqueued = 0;
    // One script call per thousand keeps each Redis command short.
    for chunk in jobs.chunks(1000) {
        let mut invocation = PUSH.prepare_invoke();
        invocation
            .key(keys.job_data_hash())
            .key(keys.active_jobs_list())
            .key(keys.job_meta_hash())
            .key(keys.idempotency_key_set())
            .arg(keys.idempotency_ttl.map_or(0, |ttl| ttl.as_secs()));
        for job in chunk {
            invocation
                .arg(task_id(job.job_id))
                .arg(&job.payload)
                .arg(job.idempotency_key.as_deref().unwrap_or(""));
        }
        let count: usize = invocation.invoke_async(&mut conn).await?;
        enqueued += count;
    }
    Ok(enqueued)
}

pub(super) async fn take_over_orphans(
    conn: &ConnectionManager,
    keys: &Config,
    dead_if_beat_by: i64,
    caller: &str,
) -> Result<usize, QueueError> {
    static TAKE_OVER: LazyLock<redis::Script> =
        LazyLock::new(|| redis::Script::new(include_str!("../../lua/take_over.lua")));
    Ok(TAKE_OVER
        .key(keys.workers_set())
        .key(keys.active_jobs_list())
        .key(keys.inflight_jobs_set())
        .arg(dead_if_beat_by)
        .arg(caller)
        .invoke_async(&mut conn.clone())
        .await?)
}

pub(super) async fn waiting(conn: &ConnectionManager, keys: &Config) -> Result<usize, QueueError> {
    Ok(redis::cmd("LLEN").arg(keys.active_jobs_list()).query_async(&mut conn.clone()).await?)
}

pub(super) async fn workers_alive(
    conn: &ConnectionManager,
    keys: &Config,
    alive_since: i64,
) -> Result<usize, QueueError> {
    Ok(redis::cmd("ZCOUNT")
        .arg(keys.workers_set())
        .arg(alive_since)
        .arg("+inf")
        .query_async(&mut conn.clone())
        .await?)
}

pub(super) async fn release(
    conn: &ConnectionManager,
    keys: &Config,
    idempotency_key: &str,
) -> Result<(), QueueError> {
    let () = redis::cmd("DEL").arg(claim(keys, idempotency_key)).query_async(&mut conn.clone()).await?;
    Ok(())
}

pub(super) async fn claimant(
    conn: &ConnectionManager,
    keys: &Config,
    idempotency_key: &str,
) -> Result<Option<String>, QueueError> {
    Ok(redis::cmd("GET").arg(claim(keys, idempotency_key)).query_async(&mut conn.clone()).await?)
}

pub(super) async fn is_dead(
    conn: &ConnectionManager,
    keys: &Config,
    task_id: &str,
) -> Result<bool, QueueError> {
    Ok(redis::cmd("SISMEMBER").arg(keys.dead_jobs_set()).arg(task_id).query_async(&mut conn.clone()).await?)
}

pub(super) async fn sweep_done(
    conn: &ConnectionManager,
    keys: &Config,
    max: usize,
) -> Result<usize, QueueError> {
    static SWEEP: LazyLock<redis::Script> =
        LazyLock::new(|| redis::Script::new(include_str!("../../lua/sweep_done.lua")));
    Ok(SWEEP
        .key(keys.done_jobs_set())
        .key(keys.job_data_hash())
        .key(keys.job_meta_hash())
        .arg(max)
        .invoke_async(&mut conn.clone())
        .await?)
}

pub(super) async fn depth(conn: &ConnectionManager, keys: &Config) -> Result<Depth, QueueError> {
    let mut conn = conn.clone();
    let workers: Vec<String> =
        redis::cmd("ZRANGE").arg(keys.workers_set()).arg(0).arg(-1).query_async(&mut conn).await?;
    let mut counts = redis::pipe();
    counts
        .cmd("LLEN")
        .arg(keys.active_jobs_list())
        .cmd("ZCARD")
        .arg(keys.scheduled_jobs_set())
        .cmd("SCARD")
        .arg(keys.dead_jobs_set())
        .cmd("SCARD")
        .arg(keys.done_jobs_set());
    for worker in &workers {
        counts.cmd("SCARD").arg(format!("{}:{worker}", keys.inflight_jobs_set()));
    }
    let counts: Vec<usize> = counts.query_async(&mut conn).await?;
    Ok(Depth {
        waiting: counts[0],
        retrying: counts[1],
        dead: counts[2],
        done: counts[3],
        in_flight: counts[4..].iter().sum(),
        workers_alive: 0,
    })
}

pub(super) async fn dead_jobs(
    conn: &ConnectionManager,
    keys: &Config,
    limit: usize,
    offset: usize,
) -> Result<DeadJobs, QueueError> {
    let conn = &mut conn.clone();
    let meta = |id: &str| format!("{}:{id}", keys.job_meta_hash());
    let dead: Vec<String> = redis::cmd("SMEMBERS").arg(keys.dead_jobs_set()).query_async(conn).await?;
    // The set has no order: the time each died sorts them.
    let mut died = redis::pipe();
    for id in &dead {
        died.cmd("HGET").arg(meta(id)).arg("done_at");
    }
    let died: Vec<Option<i64>> = if dead.is_empty() { Vec::new() } else { died.query_async(conn).await? };
    let mut dead: Vec<(Option<i64>, String)> = died.into_iter().zip(dead).collect();
    dead.sort_by(|a, b| b.cmp(a));
    let page: Vec<(Option<i64>, String)> = dead.iter().skip(offset).take(limit).cloned().collect();
    let mut details = redis::pipe();
    for (_, id) in &page {
        details.cmd("HGET").arg(keys.job_data_hash()).arg(id);
        details.cmd("HMGET").arg(meta(id)).arg("attempts").arg("result");
    }
    let details: Vec<redis::Value> =
        if page.is_empty() { Vec::new() } else { details.query_async(conn).await? };
    let mut jobs = Vec::with_capacity(page.len());
    for ((died_at, id), pair) in page.iter().zip(details.chunks(2)) {
        let payload: Option<Vec<u8>> =
            redis::from_redis_value_ref(&pair[0]).map_err(redis::RedisError::from)?;
        let (attempts, result): (Option<u32>, Option<String>) =
            redis::from_redis_value_ref(&pair[1]).map_err(redis::RedisError::from)?;
        jobs.push(DeadJob::new(
            id,
            &payload.unwrap_or_default(),
            attempts.unwrap_or_default(),
            result.as_deref(),
            *died_at,
        ));
    }
    Ok(DeadJobs { total: dead.len(), jobs })
}

pub(super) async fn retry_dead(
    conn: &ConnectionManager,
    keys: &Config,
    task_id: &str,
) -> Result<bool, QueueError> {
    static REVIVE: LazyLock<redis::Script> =
        LazyLock::new(|| redis::Script::new(include_str!("../../lua/revive_dead.lua")));
    let revived: u8 = REVIVE
        .key(keys.dead_jobs_set())
        .key(keys.job_data_hash())
        .key(keys.active_jobs_list())
        .key(keys.job_meta_hash())
        .arg(task_id)
        .invoke_async(&mut conn.clone())
        .await?;
    Ok(revived == 1)
}

pub(super) async fn delete_dead(
    conn: &ConnectionManager,
    keys: &Config,
    task_id: &str,
) -> Result<bool, QueueError> {
    static FORGET: LazyLock<redis::Script> =
        LazyLock::new(|| redis::Script::new(include_str!("../../lua/forget_dead.lua")));
    let forgotten: u8 = FORGET
        .key(keys.dead_jobs_set())
        .key(keys.job_data_hash())
        .key(keys.job_meta_hash())
        .arg(task_id)
        .invoke_async(&mut conn.clone())
        .await?;
    Ok(forgotten == 1)
}
