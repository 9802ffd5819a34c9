//! The embedded queue: apalis-sqlite's `Jobs` table in one file, plus the results outbox.
//!
//! Jobs are inserted by our own statement rather than apalis-sqlite's sink so that a job
//! whose idempotency key is taken is counted as not enqueued, as with Redis. Statuses are
//! apalis's: `Pending` waits, `Done` finished, `Killed` aborted (an unreadable payload),
//! `Failed` below its `max_attempts` is fetched again.

pub(super) mod lease;
pub(super) mod outbox;

use std::path::Path;

use apalis_sqlite::{SqlitePool, SqliteStorage};

use super::inspect::{DeadJob, DeadJobs, Depth};
use super::{QueueError, RawJob, task_id};

/// apalis-sqlite's dead jobs: aborted (`Killed`), or failed with no attempt left.
macro_rules! dead {
    () => {
        "(status = 'Killed' or (status = 'Failed' and attempts >= max_attempts))"
    };
}

pub(super) async fn connect(file: &Path) -> Result<SqlitePool, QueueError> {
    let (pool, set_up_lock) = crate::sqlite::open(&crate::config::sqlite_url(file), 4).await?;
    SqliteStorage::setup(&pool).await?;
    sqlx::raw_sql(outbox::SCHEMA).execute(&pool).await?;
    drop(set_up_lock);
    Ok(pool)
}

pub(super) async fn push(pool: &SqlitePool, queue: &str, jobs: &[RawJob]) -> Result<usize, QueueError> {
    let mut transaction = pool.begin().await?;
    let mut enqueued = 0;
    for job in jobs {
        // `or ignore`: a taken idempotency key (or a job id already queued) enqueues nothing.
        enqueued += sqlx::query(
            "insert or ignore into Jobs
                 (job, id, job_type, status, attempts, max_attempts, run_at, priority, metadata, idempotency_key)
             values (?1, ?2, ?3, 'Pending', 0, 25, strftime('%s', 'now'), 0, '{}', ?4)",
        )
        .bind(&job.payload)
        .bind(task_id(job.job_id))
        .bind(queue)
        .bind(job.idempotency_key.as_deref())
        .execute(&mut *transaction)
        .await?
        .rows_affected();
    }
    transaction.commit().await?;
    Ok(usize::try_from(enqueued).unwrap_or(usize::MAX))
}

pub(super) async fn waiting(pool: &SqlitePool, queue: &str) -> Result<usize, QueueError> {
    let waiting: i64 =
        sqlx::query_scalar("select count(*) from Jobs where job_type = ?1 and status = 'Pending'")
            .bind(queue)
            .fetch_one(pool)
            .await?;
    Ok(usize::try_from(waiting).unwrap_or_default())
}

pub(super) async fn workers_alive(
    pool: &SqlitePool,
    queue: &str,
    alive_since: i64,
) -> Result<usize, QueueError> {
    let alive: i64 =
        sqlx::query_scalar("select count(*) from Workers where worker_type = ?1 and last_seen >= ?2")
            .bind(queue)
            .bind(alive_since)
            .fetch_one(pool)
            .await?;
    Ok(usize::try_from(alive).unwrap_or_default())
}

pub(super) async fn release(pool: &SqlitePool, queue: &str, idempotency_key: &str) -> Result<(), QueueError> {
    sqlx::query("update Jobs set idempotency_key = null where job_type = ?1 and idempotency_key = ?2")
        .bind(queue)
        .bind(idempotency_key)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn claimant(
    pool: &SqlitePool,
    queue: &str,
    idempotency_key: &str,
) -> Result<Option<String>, QueueError> {
    Ok(sqlx::query_scalar("select id from Jobs where job_type = ?1 and idempotency_key = ?2")
        .bind(queue)
        .bind(idempotency_key)
        .fetch_optional(pool)
        .await?)
}

pub(super) async fn is_dead(pool: &SqlitePool, task_id: &str) -> Result<bool, QueueError> {
    Ok(sqlx::query_scalar(concat!("select exists (select 1 from Jobs where id = ?1 and ", dead!(), ")"))
        .bind(task_id)
        .fetch_one(pool)
        .await?)
}

pub(super) async fn sweep_done(pool: &SqlitePool, queue: &str, max: usize) -> Result<usize, QueueError> {
    let swept = sqlx::query(
        "delete from Jobs where rowid in
             (select rowid from Jobs where job_type = ?1 and status = 'Done' limit ?2)",
    )
    .bind(queue)
    .bind(i64::try_from(max).unwrap_or(i64::MAX))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(usize::try_from(swept).unwrap_or(usize::MAX))
}

pub(super) async fn depth(pool: &SqlitePool, queue: &str) -> Result<Depth, QueueError> {
    let counts: Vec<(String, bool, i64)> = sqlx::query_as(concat!(
        "select status, ",
        dead!(),
        " as dead, count(*) from Jobs where job_type = ?1 group by status, dead"
    ))
    .bind(queue)
    .fetch_all(pool)
    .await?;
    let mut depth = Depth::default();
    for (status, dead, count) in counts {
        let count = usize::try_from(count).unwrap_or_default();
        let slot = match status.as_str() {
            _ if dead => &mut depth.dead,
            "Pending" => &mut depth.waiting,
            "Failed" => &mut depth.retrying,
            "Queued" | "Running" => &mut depth.in_flight,
            "Done" => &mut depth.done,
            _ => continue,
        };
        *slot += count;
    }
    Ok(depth)
}

/// A dead job's row in apalis-sqlite's `Jobs` table.
#[derive(sqlx::FromRow)]
struct DeadRow {
    id: String,
    job: Vec<u8>,
    attempts: i64,
    last_result: Option<String>,
    done_at: Option<i64>,
}

pub(super) async fn dead_jobs(
    pool: &SqlitePool,
    queue: &str,
    limit: usize,
    offset: usize,
) -> Result<DeadJobs, QueueError> {
    let bound = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let total: i64 =
        sqlx::query_scalar(concat!("select count(*) from Jobs where job_type = ?1 and ", dead!()))
            .bind(queue)
            .fetch_one(pool)
            .await?;
    let rows: Vec<DeadRow> = sqlx::query_as(concat!(
        "select id, job, attempts, last_result, done_at from Jobs where job_type = ?1 and ",
        dead!(),
        " order by done_at desc, id desc limit ?2 offset ?3"
    ))
    .bind(queue)
    .bind(bound(limit))
    .bind(bound(offset))
    .fetch_all(pool)
    .await?;
    let jobs = rows
        .iter()
        .map(|row| {
            let attempts = u32::try_from(row.attempts).unwrap_or_default();
            DeadJob::new(&row.id, &row.job, attempts, row.last_result.as_deref(), row.done_at)
        })
        .collect();
    Ok(DeadJobs { total: usize::try_from(total).unwrap_or_default(), jobs })
}

pub(super) async fn retry_dead(pool: &SqlitePool, queue: &str, task_id: &str) -> Result<bool, QueueError> {
    let retried = sqlx::query(concat!(
        "update Jobs set status = 'Pending', attempts = 0, run_at = strftime('%s', 'now'),
                         lock_by = null, lock_at = null, done_at = null
         where id = ?1 and job_type = ?2 and ",
        dead!()
    ))
    .bind(task_id)
    .bind(queue)
    .execute(pool)
    .await?;
    Ok(retried.rows_affected() == 1)
}

pub(super) async fn delete_dead(pool: &SqlitePool, queue: &str, task_id: &str) -> Result<bool, QueueError> {
    let deleted = sqlx::query(concat!("delete from Jobs where id = ?1 and job_type = ?2 and ", dead!()))
        .bind(task_id)
        .bind(queue)
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected() == 1)
}
