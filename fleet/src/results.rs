//! The results stream: workers append [`JobResult`]s to a Redis stream; the collector reads
//! them in batches through a consumer group and acknowledges a batch only after Postgres has
//! it. A collector that dies mid-batch leaves its entries pending; the next one (or the same
//! one restarted) claims them, so a result is delivered at least once and never dropped.

use std::time::Duration;

use apalis_redis::ConnectionManager;
use redis::AsyncCommands;
use redis::streams::{StreamAutoClaimOptions, StreamAutoClaimReply, StreamReadOptions, StreamReadReply};
use shared::job::JobResult;

use crate::queue::QueueError;

const FIELD: &str = "result";
const GROUP: &str = "collector";
/// Entries pending this long with another consumer are taken over: that consumer is gone.
const CLAIM_IDLE: Duration = Duration::from_secs(30);

fn stream_key(prefix: &str) -> String {
    format!("{prefix}:results")
}

/// Where results that cannot be read are kept, with the reason, instead of being dropped.
fn dead_letter_key(prefix: &str) -> String {
    format!("{prefix}:results:dead")
}

/// Results on the stream not yet written by a collector (written ones are deleted).
pub async fn backlog(conn: &mut ConnectionManager, prefix: &str) -> Result<usize, QueueError> {
    Ok(conn.xlen(stream_key(prefix)).await?)
}

/// The writing end, used by workers and the producer.
#[derive(Debug, Clone)]
pub struct ResultsPublisher {
    conn: ConnectionManager,
    key: String,
}

impl ResultsPublisher {
    pub fn new(conn: ConnectionManager, prefix: &str) -> Self {
        Self { conn, key: stream_key(prefix) }
    }

    pub async fn publish(&self, results: &[JobResult]) -> Result<(), QueueError> {
        if results.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for result in results {
            let json = serde_json::to_string(result).expect("a result serialises");
            pipe.xadd(&self.key, "*", &[(FIELD, json)]).ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
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
    conn: ConnectionManager,
    key: String,
    dead_key: String,
    consumer: String,
    /// Our own pending entries are re-read first, after a restart under the same name.
    read_own_pending: bool,
}

impl ResultsConsumer {
    pub async fn new(conn: ConnectionManager, prefix: &str, consumer: String) -> Result<Self, QueueError> {
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

    /// Up to `max` entries: our pending ones, then abandoned ones of dead consumers, then new
    /// ones (waiting up to `block` for them).
    pub async fn next_batch(&mut self, max: usize, block: Duration) -> Result<Vec<Delivery>, QueueError> {
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
        let result = match raw {
            None => Err(Unreadable { raw: String::new(), error: format!("entry has no {FIELD:?} field") }),
            Some(raw) => serde_json::from_str(&raw).map_err(|e| Unreadable { error: e.to_string(), raw }),
        };
        Delivery { id: entry.id, result }
    }

    /// Forgets entries the database holds.
    pub async fn ack(&mut self, ids: &[String]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.xack(&self.key, GROUP, ids).ignore().xdel(&self.key, ids).ignore();
        pipe.query_async::<()>(&mut self.conn).await?;
        Ok(())
    }

    /// Moves an unreadable entry to the dead-letter stream, with the reason, and acks it.
    pub async fn dead_letter(&mut self, id: &str, unreadable: &Unreadable) -> Result<(), QueueError> {
        let fields = [("id", id), ("raw", unreadable.raw.as_str()), ("error", unreadable.error.as_str())];
        let _: String = self.conn.xadd(&self.dead_key, "*", &fields).await?;
        self.ack(&[id.to_owned()]).await
    }
}
