//! The job queue: apalis over Redis (a fleet of machines) or over one SQLite file (the
//! processes of one machine, with no server). The URL in [`QueueConfig`] picks the backend;
//! everything above this module is the same for both.
//!
//! Settings `../shared/CRATES.md` found necessary, for both backends:
//! - Workers poll every [`POLL_INTERVAL`] instead of sleeping until their next heartbeat.
//! - Heartbeats every [`HEARTBEAT`], and [`MISSED_HEARTBEATS`] missed ones make a worker dead:
//!   a killed worker's jobs are back in the queue in about 10 s, not apalis's default 300 s.
//! - A job pushed with an idempotency key that is already claimed is not enqueued again.
//! - Workers fetch one job at a time ([`FETCH_BATCH`]): apalis skips a worker's heartbeat
//!   while jobs it fetched wait for a free slot, so a batch larger than the free slots let a
//!   busy worker's heartbeat lapse and its jobs run twice elsewhere.
//!
//! One facade, two backends side by side: `redis.rs` and `sqlite.rs` each hold their side of
//! every operation, `inspect.rs` the types the dashboard reads from both. The results stream
//! is a second facade (`results.rs`) over the same two: `redis/results.rs` and
//! `sqlite/outbox.rs`, with `delivery.rs` the entries the collector reads from either.
//!
//! Redis only: jobs are pushed onto the active list by our own script (`lua/push.lua` says
//! why), task leases are off (see [`jobs_config`]), and the connection answers within
//! [`RESPONSE_TIMEOUT`], not redis-rs's 500 ms default, which kills worker pools under load
//! (apalis-redis issue 76).

mod delivery;
mod inspect;
mod redis;
pub mod results;
mod sqlite;

use std::time::Duration;

pub use apalis_redis::{Config, ConnectionManager};
use apalis_sqlite::SqlitePool;
use ml_core::job::Job;
use uuid::Uuid;

pub use self::inspect::{DeadJob, DeadJobs, Depth, PAYLOAD_PREVIEW};
pub use self::redis::jobs_config;
use crate::config::{QueueBackend, QueueConfig};

pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
pub const HEARTBEAT: Duration = Duration::from_secs(5);
pub const MISSED_HEARTBEATS: usize = 2;
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idempotency key keeps a job from being enqueued twice. Keys of failed jobs
/// are released by the worker, so a failure can be retried at once.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Jobs a worker fetches at once. apalis-core's persistence beats only when it has no
/// fetched job left to hand out (`State::Ready`); a fetched job waits for a free slot, which
/// with every slot training can take longer than [`MISSED_HEARTBEATS`] heartbeats, and the
/// other workers then re-queue all of the worker's jobs. One at a time, the fetched job always
/// goes straight to the slot that asked for it. The cost is a fetch per job (the fleet's
/// overhead in docs/benchmarks.md); the gain besides is that a busy worker never sits on
/// jobs an idle one could run.
pub const FETCH_BATCH: usize = 1;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis at REDIS_URL is unreachable or failed")]
    Redis(#[from] ::redis::RedisError),
    #[error("the sqlite queue at QUEUE_URL failed")]
    Sqlite(#[from] sqlx::Error),
    #[error("cannot set up the sqlite queue at QUEUE_URL")]
    SqliteSetup(#[from] apalis_sqlite::Error),
    #[error(
        "redis at REDIS_URL has maxmemory-policy {policy}: when its memory runs short it deletes keys, \
         queued jobs among them; set maxmemory-policy noeviction (redis.conf or CONFIG SET), or accept \
         the risk with ALLOW_EVICTING_REDIS=true (--allow-evicting-redis)"
    )]
    EvictingRedis { policy: String },
}

impl QueueError {
    /// Classified per backend: a connection lost or refused, a timeout, a server busy loading
    /// or failing over, a SQLite file locked by its writer pass when the server (or the
    /// writer) is back. A refused command does not pass, however often it is sent: Redis's
    /// `WRONGTYPE` or a denied permission, a malformed SQL statement, a payload apalis cannot
    /// read.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Redis(error) => redis_is_transient(error),
            Self::Sqlite(error) | Self::SqliteSetup(apalis_sqlite::Error::Database(error)) => {
                crate::database::is_transient(error)
            }
            Self::SqliteSetup(_) | Self::EvictingRedis { .. } => false,
        }
    }
}

/// Errors that say Redis is not there (or not now), rather than that the command is wrong.
fn redis_is_transient(error: &::redis::RedisError) -> bool {
    use ::redis::{ErrorKind, ServerErrorKind};
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || matches!(
            error.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            ) | ErrorKind::ClusterConnectionNotFound
        )
}

/// A job as the queue stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJob {
    pub job_id: Uuid,
    /// The job's JSON, or anything else a producer wrote.
    pub payload: Vec<u8>,
    pub idempotency_key: Option<String>,
}

impl RawJob {
    pub fn of(job: &Job) -> Self {
        Self {
            job_id: job.job_id,
            payload: serde_json::to_vec(job).expect("a job serialises"),
            idempotency_key: job.idempotency_key.clone(),
        }
    }
}

/// Where the jobs are.
#[derive(Debug, Clone)]
pub enum Backend {
    Redis(ConnectionManager),
    Sqlite(SqlitePool),
}

/// A connection to the jobs queue (and to the results stream beside it).
#[derive(Debug, Clone)]
pub struct Queue {
    backend: Backend,
    prefix: String,
    /// apalis-redis's names of the queue's keys (unused with SQLite).
    redis_keys: Config,
}

impl Queue {
    /// Connects to the queue `args` names; the SQLite file is created and set up if new. A
    /// Redis that may evict keys is refused unless `args` allows it.
    pub async fn connect(args: &QueueConfig) -> Result<Self, QueueError> {
        let backend = match &args.backend {
            QueueBackend::Redis(url) => {
                let conn = redis::connect(url).await?;
                redis::check_eviction_policy(&conn, args.allow_evicting_redis).await?;
                Backend::Redis(conn)
            }
            QueueBackend::Sqlite(path) => Backend::Sqlite(sqlite::connect(path).await?),
        };
        Ok(Self { backend, prefix: args.prefix.clone(), redis_keys: jobs_config(&args.prefix) })
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The queue's name: apalis-redis's key prefix, apalis-sqlite's job type.
    pub fn name(&self) -> String {
        format!("{}:jobs", self.prefix)
    }

    /// The apalis-sqlite settings of a worker.
    pub fn sqlite_config(&self) -> apalis_sqlite::Config {
        apalis_sqlite::Config::default()
            .queue(self.name())
            .batch_size(FETCH_BATCH)
            .heartbeat_interval(HEARTBEAT)
            .missed_heartbeats(MISSED_HEARTBEATS)
    }

    /// Enqueues jobs. Returns how many were: a job whose idempotency key is already claimed
    /// is not.
    pub async fn push(&self, jobs: &[Job]) -> Result<usize, QueueError> {
        self.push_raw(&jobs.iter().map(RawJob::of).collect::<Vec<_>>()).await
    }

    /// Enqueues payloads as they are, whatever they hold: what [`Queue::push`] does once the
    /// jobs are encoded, and how the fault tests put bytes no worker can read on the queue.
    pub async fn push_raw(&self, jobs: &[RawJob]) -> Result<usize, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => redis::push(conn, &self.redis_keys, jobs).await,
            Backend::Sqlite(pool) => sqlite::push(pool, &self.name(), jobs).await,
        }
    }

    /// Jobs waiting, for all workers.
    pub async fn waiting(&self) -> Result<usize, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => redis::waiting(conn, &self.redis_keys).await,
            Backend::Sqlite(pool) => sqlite::waiting(pool, &self.name()).await,
        }
    }

    /// Workers on this queue whose last heartbeat is recent enough for them to count as alive
    /// (the rule that re-queues a dead worker's jobs).
    pub async fn workers_alive(&self) -> Result<usize, QueueError> {
        let alive_since = self.alive_since();
        match &self.backend {
            Backend::Redis(conn) => redis::workers_alive(conn, &self.redis_keys, alive_since).await,
            Backend::Sqlite(pool) => sqlite::workers_alive(pool, &self.name(), alive_since).await,
        }
    }

    /// The oldest heartbeat (in seconds) of a worker that counts as alive.
    fn alive_since(&self) -> i64 {
        let dead_after = HEARTBEAT.as_secs() * MISSED_HEARTBEATS as u64;
        chrono::Utc::now().timestamp() - i64::try_from(dead_after).unwrap_or(i64::MAX)
    }

    /// Puts the jobs of dead workers (by the rule of [`Self::workers_alive`]) first in line,
    /// so that the next free slot of any worker runs them instead of the whole backlog first;
    /// returns how many. `caller`, the worker asking, is never taken for dead.
    ///
    /// Redis only: apalis-redis would put them last. apalis-sqlite puts an orphan back with
    /// the `run_at` of its push (in seconds) and fetches by `run_at`, so it already comes
    /// before every job pushed in a later second (within the same second, ties go by id).
    pub async fn take_over_orphans(&self, caller: &str) -> Result<usize, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => {
                redis::take_over_orphans(conn, &self.redis_keys, self.alive_since() - 1, caller).await
            }
            Backend::Sqlite(_) => Ok(0),
        }
    }

    /// Frees a failed job's idempotency key, so that the next trigger of the same work runs.
    pub async fn release(&self, idempotency_key: &str) -> Result<(), QueueError> {
        match &self.backend {
            Backend::Redis(conn) => redis::release(conn, &self.redis_keys, idempotency_key).await,
            Backend::Sqlite(pool) => sqlite::release(pool, &self.name(), idempotency_key).await,
        }
    }

    /// The job that holds an idempotency key: the one a second push of the same work meets.
    pub async fn claimant(&self, idempotency_key: &str) -> Result<Option<Uuid>, QueueError> {
        let task_id = match &self.backend {
            Backend::Redis(conn) => redis::claimant(conn, &self.redis_keys, idempotency_key).await?,
            Backend::Sqlite(pool) => sqlite::claimant(pool, &self.name(), idempotency_key).await?,
        };
        Ok(task_id.and_then(|id| ulid::Ulid::from_string(&id).ok()).map(|id| Uuid::from_u128(id.0)))
    }

    /// Whether the queue gave up on a job (its payload unreadable, or out of attempts).
    pub async fn is_dead(&self, job_id: Uuid) -> Result<bool, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => redis::is_dead(conn, &self.redis_keys, &task_id(job_id)).await,
            Backend::Sqlite(pool) => sqlite::is_dead(pool, &task_id(job_id)).await,
        }
    }

    /// Marks done a job that `worker` ran to its end and published after its job pool died
    /// (nobody is left to acknowledge it), so that it is not run again. False if the job had
    /// already left that worker: it will run again, and its second result is a duplicate
    /// the collector ignores.
    pub async fn finish_abandoned(&self, job_id: Uuid, worker: &str) -> Result<bool, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => {
                redis::finish_abandoned(conn, &self.redis_keys, &task_id(job_id), worker).await
            }
            Backend::Sqlite(pool) => sqlite::finish_abandoned(pool, &task_id(job_id), worker).await,
        }
    }

    /// Forgets up to `max` finished jobs (payload and metadata; results live on the results
    /// stream). Returns how many; call it until it returns less than `max`.
    pub async fn sweep_done(&self, max: usize) -> Result<usize, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => redis::sweep_done(conn, &self.redis_keys, max).await,
            Backend::Sqlite(pool) => sqlite::sweep_done(pool, &self.name(), max).await,
        }
    }

    /// How many jobs are in each state, for all workers.
    pub async fn depth(&self) -> Result<Depth, QueueError> {
        let workers_alive = self.workers_alive().await?;
        let depth = match &self.backend {
            Backend::Redis(conn) => redis::depth(conn, &self.redis_keys).await?,
            Backend::Sqlite(pool) => sqlite::depth(pool, &self.name()).await?,
        };
        Ok(Depth { workers_alive, ..depth })
    }

    /// Dead jobs, newest first: `limit` of them after the first `offset`.
    pub async fn dead_jobs(&self, limit: usize, offset: usize) -> Result<DeadJobs, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => redis::dead_jobs(conn, &self.redis_keys, limit, offset).await,
            Backend::Sqlite(pool) => sqlite::dead_jobs(pool, &self.name(), limit, offset).await,
        }
    }

    /// Puts a dead job back in the queue with its attempts reset. False if it is not dead.
    pub async fn retry_dead(&self, job_id: Uuid) -> Result<bool, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => redis::retry_dead(conn, &self.redis_keys, &task_id(job_id)).await,
            Backend::Sqlite(pool) => sqlite::retry_dead(pool, &self.name(), &task_id(job_id)).await,
        }
    }

    /// Deletes a dead job. False if it is not dead.
    pub async fn delete_dead(&self, job_id: Uuid) -> Result<bool, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => redis::delete_dead(conn, &self.redis_keys, &task_id(job_id)).await,
            Backend::Sqlite(pool) => sqlite::delete_dead(pool, &self.name(), &task_id(job_id)).await,
        }
    }
}

/// The queue's id of a job: its uuid as a ULID (both are 128 bits), the id type apalis
/// parses, so that the queue's records of a job can be found from its result and back.
pub fn task_id(job_id: Uuid) -> String {
    ulid::Ulid::from(job_id.as_u128()).to_string()
}
