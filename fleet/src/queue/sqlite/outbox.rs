//! The results outbox: what the results stream is on Redis, as a table in the queue's SQLite
//! file, read by one collector.

use std::time::Duration;

use apalis_sqlite::SqlitePool;

use crate::queue::QueueError;
use crate::queue::delivery::{Delivery, Unreadable};

/// How often an empty outbox is read again.
const POLL: Duration = Duration::from_millis(100);

pub(in crate::queue) const SCHEMA: &str = "
create table if not exists boltfleet_results (
    id     integer primary key autoincrement,
    queue  text not null,
    result text not null
);
create table if not exists boltfleet_dead_results (
    id       integer primary key autoincrement,
    queue    text not null,
    entry_id text not null,
    raw      text not null,
    error    text not null
);
";

pub(in crate::queue) async fn backlog(pool: &SqlitePool, queue: &str) -> Result<usize, QueueError> {
    let count: i64 = sqlx::query_scalar("select count(*) from boltfleet_results where queue = ?1")
        .bind(queue)
        .fetch_one(pool)
        .await?;
    Ok(usize::try_from(count).unwrap_or_default())
}

/// Appends results in one transaction.
pub(in crate::queue) async fn publish(
    pool: &SqlitePool,
    queue: &str,
    results: impl Iterator<Item = String>,
) -> Result<(), QueueError> {
    let mut transaction = pool.begin().await?;
    for json in results {
        sqlx::query("insert into boltfleet_results (queue, result) values (?1, ?2)")
            .bind(queue)
            .bind(json)
            .execute(&mut *transaction)
            .await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// The outbox's one reader.
#[derive(Debug)]
pub(in crate::queue) struct OutboxConsumer {
    pub(in crate::queue) pool: SqlitePool,
    pub(in crate::queue) queue: String,
}

impl OutboxConsumer {
    /// The oldest `max` entries, after a pause of up to `block` when there are none.
    pub(in crate::queue) async fn next_batch(
        &self,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("select id, result from boltfleet_results where queue = ?1 order by id limit ?2")
                .bind(&self.queue)
                .bind(i64::try_from(max).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
        if rows.is_empty() {
            tokio::time::sleep(block.min(POLL)).await;
        }
        Ok(rows.into_iter().map(|(id, raw)| Delivery::read(id.to_string(), raw)).collect())
    }

    pub(in crate::queue) async fn ack(&self, ids: &[String]) -> Result<(), QueueError> {
        let ids = serde_json::to_string(ids).expect("ids serialise");
        sqlx::query("delete from boltfleet_results where id in (select value from json_each(?1))")
            .bind(ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Keeps an unreadable entry, with the reason, in the dead results' table.
    pub(in crate::queue) async fn dead_letter(
        &self,
        id: &str,
        unreadable: &Unreadable,
    ) -> Result<(), QueueError> {
        sqlx::query(
            "insert into boltfleet_dead_results (queue, entry_id, raw, error) values (?1, ?2, ?3, ?4)",
        )
        .bind(&self.queue)
        .bind(id)
        .bind(&unreadable.raw)
        .bind(&unreadable.error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
