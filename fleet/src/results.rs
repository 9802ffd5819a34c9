//! The results stream: workers append [`JobResult`]s; the collector reads them in batches
//! and acknowledges a batch only after the database has it. A collector that dies mid-batch
//! leaves its entries unacknowledged and reads them again, so a result is delivered at least
//! once and never dropped.
//!
//! With a Redis queue it is a Redis stream with a consumer group (a dead consumer's entries
//! are claimed by another); with a SQLite queue, an outbox table in the same file
//! (`boltfleet_results`), read by one collector.

use std::time::Duration;

use apalis_redis::ConnectionManager;
use apalis_sqlite::SqlitePool;
use ml_core::job::JobResult;
use redis::AsyncCommands;
use redis::streams::{StreamAutoClaimOptions, StreamAutoClaimReply, StreamReadOptions, StreamReadReply};

use crate::queue::{Backend, Queue, QueueError};

const FIELD: &str = "result";
const GROUP: &str = "collector";
/// Entries pending this long with another consumer are taken over: that consumer is gone.
const CLAIM_IDLE: Duration = Duration::from_secs(30);
/// How often an empty outbox is read again.
const OUTBOX_POLL: Duration = Duration::from_millis(100);

fn stream_key(prefix: &str) -> String {
    format!("{prefix}:results")
}

/// Where results that cannot be read are kept, with the reason, instead of being dropped.
fn dead_letter_key(prefix: &str) -> String {
    format!("{prefix}:results:dead")
}

/// Results not yet written by a collector (written ones are deleted).
pub async fn backlog(queue: &Queue) -> Result<usize, QueueError> {
    match queue.backend() {
        Backend::Redis(conn) => Ok(conn.clone().xlen(stream_key(queue.prefix())).await?),
        Backend::Sqlite(pool) => {
            let count: i64 = sqlx::query_scalar("select count(*) from boltfleet_results where queue = ?1")
                .bind(queue.prefix())
                .fetch_one(pool)
                .await?;
            Ok(usize::try_from(count).unwrap_or_default())
        }
    }
}

/// The writing end, used by workers and the producer.
#[derive(Debug, Clone)]
pub struct ResultsPublisher {
    queue: Queue,
}

impl ResultsPublisher {
    pub fn new(queue: &Queue) -> Self {
        Self { queue: queue.clone() }
    }

    pub async fn publish(&self, results: &[JobResult]) -> Result<(), QueueError> {
        if results.is_empty() {
            return Ok(());
        }
        let json = results.iter().map(|result| serde_json::to_string(result).expect("a result serialises"));
        match self.queue.backend() {
            Backend::Redis(conn) => {
                let key = stream_key(self.queue.prefix());
                let mut pipe = redis::pipe();
                for json in json {
                    pipe.xadd(&key, "*", &[(FIELD, json)]).ignore();
                }
                pipe.query_async::<()>(&mut conn.clone()).await?;
            }
            Backend::Sqlite(pool) => {
                let mut transaction = pool.begin().await?;
                for json in json {
                    sqlx::query("insert into boltfleet_results (queue, result) values (?1, ?2)")
                        .bind(self.queue.prefix())
                        .bind(json)
                        .execute(&mut *transaction)
                        .await?;
                }
                transaction.commit().await?;
            }
        }
        Ok(())
    }
}

/// One entry read from the stream.
#[derive(Debug)]
pub struct Delivery {
    pub id: String,
    /// The result, or why the entry is not one (with its raw text).
    pub result: Result<JobResult, Unreadable>,
}

#[derive(Debug)]
pub struct Unreadable {
    pub raw: String,
    pub error: String,
}

/// The reading end, used by the collector.
#[derive(Debug)]
pub struct ResultsConsumer {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Stream(StreamConsumer),
    Outbox { pool: SqlitePool, queue: String },
}

impl ResultsConsumer {
    /// Joins the collectors' consumer group as `consumer` (Redis), or opens the outbox.
    pub async fn new(queue: &Queue, consumer: String) -> Result<Self, QueueError> {
        let source = match queue.backend() {
            Backend::Redis(conn) => {
                Source::Stream(StreamConsumer::new(conn.clone(), queue.prefix(), consumer).await?)
            }
            Backend::Sqlite(pool) => Source::Outbox { pool: pool.clone(), queue: queue.prefix().to_owned() },
        };
        Ok(Self { source })
    }

    /// Up to `max` entries, waiting up to `block` for some when there are none.
    pub async fn next_batch(&mut self, max: usize, block: Duration) -> Result<Vec<Delivery>, QueueError> {
        match &mut self.source {
            Source::Stream(stream) => stream.next_batch(max, block).await,
            Source::Outbox { pool, queue } => {
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "select id, result from boltfleet_results where queue = ?1 order by id limit ?2",
                )
                .bind(&*queue)
                .bind(i64::try_from(max).unwrap_or(i64::MAX))
                .fetch_all(&*pool)
                .await?;
                if rows.is_empty() {
                    tokio::time::sleep(block.min(OUTBOX_POLL)).await;
                }
                Ok(rows.into_iter().map(|(id, raw)| delivery(id.to_string(), Some(raw))).collect())
            }
        }
    }

    /// Forgets entries the database holds.
    pub async fn ack(&mut self, ids: &[String]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        match &mut self.source {
            Source::Stream(stream) => stream.ack(ids).await,
            Source::Outbox { pool, .. } => {
                let ids = serde_json::to_string(ids).expect("ids serialise");
                sqlx::query("delete from boltfleet_results where id in (select value from json_each(?1))")
                    .bind(ids)
                    .execute(&*pool)
                    .await?;
                Ok(())
            }
        }
    }

    /// Moves an unreadable entry to the dead letters, with the reason, and acks it.
    pub async fn dead_letter(&mut self, id: &str, unreadable: &Unreadable) -> Result<(), QueueError> {
        match &mut self.source {
            Source::Stream(stream) => {
                let fields =
                    [("id", id), ("raw", unreadable.raw.as_str()), ("error", unreadable.error.as_str())];
                let _: String = stream.conn.xadd(&stream.dead_key, "*", &fields).await?;
            }
            Source::Outbox { pool, queue } => {
                sqlx::query(
                    "insert into boltfleet_dead_results (queue, entry_id, raw, error) values (?1, ?2, ?3, ?4)",
                )
                .bind(&*queue)
                .bind(id)
                .bind(&unreadable.raw)
                .bind(&unreadable.error)
                .execute(&*pool)
                .await?;
            }
        }
        self.ack(&[id.to_owned()]).await
    }
}

/// Reads an entry's text as a result, or says why it is not one.
fn delivery(id: String, raw: Option<String>) -> Delivery {
    let result = match raw {
        None => Err(Unreadable { raw: String::new(), error: format!("entry has no {FIELD:?} field") }),
        Some(raw) => serde_json::from_str(&raw).map_err(|e| Unreadable { error: e.to_string(), raw }),
    };
    Delivery { id, result }
}

/// A member of the collectors' consumer group on the Redis stream.
#[derive(Debug)]
struct StreamConsumer {
    conn: ConnectionManager,
    key: String,
    dead_key: String,
    consumer: String,
    /// Our own pending entries are re-read first, after a restart under the same name.
    read_own_pending: bool,
}

impl StreamConsumer {
    async fn new(conn: ConnectionManager, prefix: &str, consumer: String) -> Result<Self, QueueError> {
        let mut this = Self {
            conn,
            key: stream_key(prefix),
            dead_key: dead_letter_key(prefix),
            consumer,
            read_own_pending: true,
        };
        let created: Result<(), _> = this.conn.xgroup_create_mkstream(&this.key, GROUP, "0").await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => Err(e.into()),
            _ => Ok(this),
        }
    }

    /// Our pending entries, then abandoned ones of dead consumers, then new ones.
    async fn next_batch(&mut self, max: usize, block: Duration) -> Result<Vec<Delivery>, QueueError> {
        if self.read_own_pending {
            let options = StreamReadOptions::default().group(GROUP, &self.consumer).count(max);
            let reply: StreamReadReply = self.conn.xread_options(&[&self.key], &["0"], &options).await?;
            let entries = Self::entries(reply);
            if !entries.is_empty() {
                return Ok(entries);
            }
            self.read_own_pending = false;
        }
        let claim = StreamAutoClaimOptions::default().count(max);
        let claimed: StreamAutoClaimReply = self
            .conn
            .xautoclaim_options(&self.key, GROUP, &self.consumer, CLAIM_IDLE.as_millis() as u64, "0", claim)
            .await?;
        if !claimed.claimed.is_empty() {
            return Ok(claimed.claimed.into_iter().map(Self::delivery).collect());
        }
        let options = StreamReadOptions::default()
            .group(GROUP, &self.consumer)
            .count(max)
            .block(block.as_millis() as usize);
        let reply: Option<StreamReadReply> = self.conn.xread_options(&[&self.key], &[">"], &options).await?;
        Ok(reply.map(Self::entries).unwrap_or_default())
    }

    fn entries(reply: StreamReadReply) -> Vec<Delivery> {
        reply.keys.into_iter().flat_map(|key| key.ids).map(Self::delivery).collect()
    }

    fn delivery(entry: redis::streams::StreamId) -> Delivery {
        let raw: Option<String> = entry.get(FIELD);
        delivery(entry.id, raw)
    }

    async fn ack(&mut self, ids: &[String]) -> Result<(), QueueError> {
        let mut pipe = redis::pipe();
        pipe.xack(&self.key, GROUP, ids).ignore().xdel(&self.key, ids).ignore();
        pipe.query_async::<()>(&mut self.conn).await?;
        Ok(())
    }
}
