//! The job queue: Redis (a fleet of machines) or one SQLite file (the processes of one
//! machine, with no server). The URL in [`QueueConfig`] picks the backend; everything above
//! this module is the same for both.
//!
//! The keys and tables are apalis-redis's and apalis-sqlite's (its migrations set up the
//! file), but the worker's loop is ours (`lease.rs`): apalis's could not dead-letter an entry
//! without metadata (its pool stopped), starved its heartbeat under a full pool, fetched one
//! job per round trip, and put a dead worker's jobs behind the whole backlog.
//! - A worker takes as many jobs as it has free slots and settles finished ones in the same
//!   round trip ([`Queue::exchange`]); results are published in that step.
//! - It beats every [`HEARTBEAT`] from a task of its own; silent for [`DEAD_AFTER`], it is
//!   taken for dead and its jobs go first in line ([`Queue::take_over_orphans`]).
//! - A job is settled only by the worker that holds it: a late result of a worker taken for
//!   dead is dropped, the job being another's.
//! - A job pushed with an idempotency key that is already claimed is not enqueued again.
//!
//! One facade, two backends side by side: `redis.rs` and `sqlite.rs` each hold their side of
//! every operation, `inspect.rs` the types the dashboard reads from both. The results stream
//! is a second facade (`results.rs`) over the same two: `redis/results.rs` and
//! `sqlite/outbox.rs`, with `delivery.rs` the entries the collector reads from either.
//!
//! Redis only: jobs are pushed onto the active list by our own script (`lua/push.lua` says
//! why), and the connection answers within [`RESPONSE_TIMEOUT`], not redis-rs's 500 ms
//! default, which killed worker pools under load (apalis-redis issue 76).

mod delivery;
mod inspect;
pub mod lease;
mod redis;
pub mod results;
mod sqlite;

use std::time::Duration;

pub use apalis_redis::{Config, ConnectionManager};
use apalis_sqlite::SqlitePool;
use ml_core::job::Job;
use uuid::Uuid;

pub use self::inspect::{DeadJob, DeadJobs, Depth, PAYLOAD_PREVIEW};
pub use self::lease::{Exchange, Poisoned, Settlement, Taken, Verdict};
pub use self::redis::jobs_config;
use crate::config::{QueueBackend, QueueConfig};

/// How long an idle worker waits before it asks the queue again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How often a worker marks itself alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A worker silent this long is taken for dead and its jobs are given to others. Long
/// beside [`HEARTBEAT`]: a lossy link stalls a TCP connection for seconds (with 200 ms of
/// latency and 15 % loss, a live worker's last beat was once 11 s old).
pub const DEAD_AFTER: Duration = Duration::from_secs(15);
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idempotency key keeps a job from being enqueued twice. Keys of failed jobs
/// are released by the worker, so a failure can be retried at once.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

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
        let queue = Self::open(args, RESPONSE_TIMEOUT).await?;
        if let Backend::Redis(conn) = &queue.backend {
            redis::check_eviction_policy(conn, args.allow_evicting_redis).await?;
        }
        Ok(queue)
    }

    /// A second connection to the same queue, for a worker's heartbeat alone: no job's
    /// traffic queues in front of a beat, and a beat that gets no answer within a
    /// [`HEARTBEAT`] fails (the caller connects afresh) instead of waiting on a stalled link.
    pub async fn connect_for_beats(args: &QueueConfig) -> Result<Self, QueueError> {
        Self::open(args, HEARTBEAT).await
    }

    async fn open(args: &QueueConfig, response_timeout: Duration) -> Result<Self, QueueError> {
        let backend = match &args.backend {
            QueueBackend::Redis(url) => Backend::Redis(redis::connect(url, response_timeout).await?),
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
        chrono::Utc::now().timestamp() - i64::try_from(DEAD_AFTER.as_secs()).unwrap_or(i64::MAX)
    }

    /// Puts the jobs of dead workers (by the rule of [`Self::workers_alive`]) first in line,
    /// so that the next free slot of any worker runs them instead of the whole backlog first,
    /// and forgets those workers; returns how many jobs. `caller`, the worker asking, is
    /// never taken for dead.
    pub async fn take_over_orphans(&self, caller: &str) -> Result<usize, QueueError> {
        let dead_if_beat_by = self.alive_since() - 1;
        match &self.backend {
            Backend::Redis(conn) => {
                redis::take_over_orphans(conn, &self.redis_keys, dead_if_beat_by, caller).await
            }
            Backend::Sqlite(pool) => {
                sqlite::lease::take_over_orphans(pool, &self.name(), dead_if_beat_by, caller).await
            }
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

    /// A worker's round trip: applies its settlements (publishing their results), then takes
    /// up to `take` jobs for it. Counts as its heartbeat too.
    pub async fn exchange(
        &self,
        worker: &str,
        settlements: &[Settlement],
        take: usize,
    ) -> Result<Exchange, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => {
                redis::lease::exchange(conn, &self.redis_keys, &self.prefix, worker, settlements, take).await
            }
            Backend::Sqlite(pool) => {
                sqlite::lease::exchange(pool, &self.name(), &self.prefix, worker, settlements, take).await
            }
        }
    }

    /// Marks `worker` alive now. False if it had been taken for dead (its jobs given to
    /// others): it is registered again.
    pub async fn beat(&self, worker: &str) -> Result<bool, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => redis::lease::beat(conn, &self.redis_keys, worker).await,
            Backend::Sqlite(pool) => sqlite::lease::beat(pool, &self.name(), worker).await,
        }
    }

    /// Whether `worker` still holds a job it took: false once the orphan rule gave it to
    /// another. A worker asks before it promotes what it trained.
    pub async fn holds(&self, worker: &str, task_id: &str) -> Result<bool, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => redis::lease::holds(conn, &self.redis_keys, worker, task_id).await,
            Backend::Sqlite(pool) => sqlite::lease::holds(pool, worker, task_id).await,
        }
    }

    /// A stopping worker's jobs go back first in line, and the worker off the workers' list.
    /// Returns how many jobs.
    pub async fn give_back(&self, worker: &str) -> Result<usize, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => redis::lease::give_back(conn, &self.redis_keys, worker).await,
            Backend::Sqlite(pool) => sqlite::lease::give_back(pool, &self.name(), worker).await,
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
