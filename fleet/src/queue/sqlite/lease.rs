//! The worker's side of the queue on SQLite: `lua/exchange.lua`'s rules as one transaction
//! over apalis-sqlite's `Jobs` and `Workers` tables, the results in the outbox beside them.
//!
//! A row always has a payload (the column is `not null`) and its metadata are its columns, so
//! the entries that are not whole jobs here are payloads no worker can read: the worker sends
//! those to the dead set ([`Verdict::Dead`]).

use apalis_sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};

use crate::queue::QueueError;
use crate::queue::lease::{Exchange, Settlement, Taken, Verdict};

/// Registers `worker` or marks it alive now; whether it was registered already. `Jobs.lock_by`
/// references the row, so it comes first in every exchange.
async fn upsert_worker(
    transaction: &mut Transaction<'_, Sqlite>,
    queue: &str,
    worker: &str,
) -> Result<bool, QueueError> {
    let known: bool = sqlx::query_scalar("select exists (select 1 from Workers where id = ?1)")
        .bind(worker)
        .fetch_one(&mut **transaction)
        .await?;
    sqlx::query(
        "insert into Workers (id, worker_type, storage_name, layers, last_seen, started_at)
         values (?1, ?2, 'boltfleet', '', strftime('%s', 'now'), strftime('%s', 'now'))
         on conflict (id) do update set last_seen = excluded.last_seen",
    )
    .bind(worker)
    .bind(queue)
    .execute(&mut **transaction)
    .await?;
    Ok(known)
}

pub(in crate::queue) async fn exchange(
    pool: &SqlitePool,
    queue: &str,
    prefix: &str,
    worker: &str,
    settlements: &[Settlement],
    take: usize,
) -> Result<Exchange, QueueError> {
    let mut transaction = pool.begin().await?;
    upsert_worker(&mut transaction, queue, worker).await?;
    let mut settled = Vec::with_capacity(settlements.len());
    for settlement in settlements {
        let statement = match &settlement.verdict {
            Verdict::Done => {
                "update Jobs set status = 'Done', done_at = strftime('%s', 'now'), lock_by = null
                 where id = ?1 and lock_by = ?2 and status = 'Running'"
            }
            Verdict::Retry { .. } => {
                "update Jobs set status = 'Failed', run_at = strftime('%s', 'now') + ?3, lock_by = null
                 where id = ?1 and lock_by = ?2 and status = 'Running'"
            }
            Verdict::Dead { .. } => {
                "update Jobs set status = 'Killed', last_result = ?3, done_at = strftime('%s', 'now'),
                                 lock_by = null
                 where id = ?1 and lock_by = ?2 and status = 'Running'"
            }
            // First in line: taken jobs are ordered by priority first.
            Verdict::Back => {
                "update Jobs set status = 'Pending', attempts = attempts - 1, priority = 1, lock_by = null
                 where id = ?1 and lock_by = ?2 and status = 'Running'"
            }
        };
        let detail = match &settlement.verdict {
            Verdict::Retry { after } => after.as_secs().max(1).to_string(),
            Verdict::Dead { reason } => reason.clone(),
            Verdict::Done | Verdict::Back => String::new(),
        };
        let held = sqlx::query(statement)
            .bind(&settlement.task_id)
            .bind(worker)
            .bind(detail)
            .execute(&mut *transaction)
            .await?
            .rows_affected()
            == 1;
        let forgotten = !held
            && !sqlx::query_scalar::<_, bool>("select exists (select 1 from Jobs where id = ?1)")
                .bind(&settlement.task_id)
                .fetch_one(&mut *transaction)
                .await?;
        if let Some(result) = settlement.result.as_ref().filter(|_| held || forgotten) {
            sqlx::query("insert into boltfleet_results (queue, result) values (?1, ?2)")
                .bind(prefix)
                .bind(result)
                .execute(&mut *transaction)
                .await?;
        }
        settled.push(held);
    }
    // Chosen, then marked: `update ... returning` hands rows back in no set order. The
    // transaction already holds the write lock (its first statement wrote), so nobody takes
    // the same rows in between.
    let taken: Vec<(String, Vec<u8>, i64)> = sqlx::query_as(
        "select id, job, attempts + 1 from Jobs
         where job_type = ?1 and run_at <= strftime('%s', 'now')
           and (status = 'Pending' or (status = 'Failed' and attempts < max_attempts))
         order by priority desc, run_at, rowid
         limit ?2",
    )
    .bind(queue)
    .bind(i64::try_from(take).unwrap_or(i64::MAX))
    .fetch_all(&mut *transaction)
    .await?;
    if !taken.is_empty() {
        let ids = serde_json::to_string(&taken.iter().map(|(id, ..)| id).collect::<Vec<_>>())
            .expect("ids serialise");
        sqlx::query(
            "update Jobs set status = 'Running', lock_by = ?1, lock_at = strftime('%s', 'now'),
                             attempts = attempts + 1, priority = 0
             where id in (select value from json_each(?2))",
        )
        .bind(worker)
        .bind(ids)
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await?;
    Ok(Exchange {
        settled,
        taken: taken
            .into_iter()
            .map(|(task_id, payload, attempt)| Taken {
                task_id,
                attempt: u32::try_from(attempt).unwrap_or_default(),
                payload,
            })
            .collect(),
        poisoned: Vec::new(),
    })
}

pub(in crate::queue) async fn beat(pool: &SqlitePool, queue: &str, worker: &str) -> Result<bool, QueueError> {
    let mut transaction = pool.begin().await?;
    let known = upsert_worker(&mut transaction, queue, worker).await?;
    transaction.commit().await?;
    Ok(known)
}

pub(in crate::queue) async fn holds(
    pool: &SqlitePool,
    worker: &str,
    task_id: &str,
) -> Result<bool, QueueError> {
    Ok(sqlx::query_scalar(
        "select exists (select 1 from Jobs where id = ?1 and lock_by = ?2 and status = 'Running')",
    )
    .bind(task_id)
    .bind(worker)
    .fetch_one(pool)
    .await?)
}

/// Gives a stopping worker's jobs back, first in line, and forgets the worker.
pub(in crate::queue) async fn give_back(
    pool: &SqlitePool,
    queue: &str,
    worker: &str,
) -> Result<usize, QueueError> {
    release_workers(pool, queue, None, worker).await
}

/// The orphan rule: the jobs of workers whose last beat is at or before `dead_if_beat_by`
/// (never `caller`'s) go back first in line, and those workers are forgotten.
pub(in crate::queue) async fn take_over_orphans(
    pool: &SqlitePool,
    queue: &str,
    dead_if_beat_by: i64,
    caller: &str,
) -> Result<usize, QueueError> {
    release_workers(pool, queue, Some(dead_if_beat_by), caller).await
}

/// The workers [`release_workers`] picks: with `?2` (a last beat), the dead ones other than
/// `?3`; without, `?3` itself.
macro_rules! whose {
    () => {
        "select id from Workers where worker_type = ?1
         and ((?2 is null and id = ?3) or (?2 is not null and last_seen <= ?2 and id != ?3))"
    };
}

/// With `dead_if_beat_by`, the dead workers other than `worker`; without, `worker` itself.
async fn release_workers(
    pool: &SqlitePool,
    queue: &str,
    dead_if_beat_by: Option<i64>,
    worker: &str,
) -> Result<usize, QueueError> {
    let mut transaction = pool.begin().await?;
    let released = sqlx::query(concat!(
        "update Jobs set status = 'Pending', lock_by = null, lock_at = null, priority = 1
         where job_type = ?1 and status = 'Running' and lock_by in (",
        whose!(),
        ")"
    ))
    .bind(queue)
    .bind(dead_if_beat_by)
    .bind(worker)
    .execute(&mut *transaction)
    .await?
    .rows_affected();
    // apalis-sqlite's acknowledgement left `lock_by` on finished jobs: it must go before the
    // worker it names can.
    sqlx::query(concat!("update Jobs set lock_by = null where lock_by in (", whose!(), ")"))
        .bind(queue)
        .bind(dead_if_beat_by)
        .bind(worker)
        .execute(&mut *transaction)
        .await?;
    sqlx::query(concat!("delete from Workers where id in (", whose!(), ")"))
        .bind(queue)
        .bind(dead_if_beat_by)
        .bind(worker)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(usize::try_from(released).unwrap_or(usize::MAX))
}
