//! The results stream on Redis: a stream with a consumer group of collectors, in which a dead
//! consumer's entries are claimed by another.

use std::time::Duration;

use apalis_redis::ConnectionManager;
use redis::AsyncCommands;
use redis::streams::{StreamAutoClaimOptions, StreamAutoClaimReply, StreamReadOptions, StreamReadReply};

use crate::queue::QueueError;
use crate::queue::delivery::{Delivery, Unreadable};

const FIELD: &str = "result";
const GROUP: &str = "collector";
/// Entries pending this long with another consumer are taken over: that consumer is gone.
const CLAIM_IDLE: Duration = Duration::from_secs(30);

pub(in crate::queue) fn stream_key(prefix: &str) -> String {
    format!("{prefix}:results")
}

/// Where results that cannot be read are kept, with the reason, instead of being dropped.
fn dead_letter_key(prefix: &str) -> String {
    format!("{prefix}:results:dead")
}

pub(in crate::queue) async fn backlog(conn: &ConnectionManager, prefix: &str) -> Result<usize, QueueError> {
    Ok(conn.clone().xlen(stream_key(prefix)).await?)
}

/// Appends results in one round trip.
pub(in crate::queue) async fn publish(
    conn: &ConnectionManager,
    prefix: &str,
    results: impl Iterator<Item = String>,
) -> Result<(), QueueError> {
    let key = stream_key(prefix);
    let mut pipe = redis::pipe();
    for json in results {
        pipe.xadd(&key, "*", &[(FIELD, json)]).ignore();
    }
    pipe.query_async::<()>(&mut conn.clone()).await?;
    Ok(())
}

/// A member of the collectors' consumer group.
#[derive(Debug)]
pub(in crate::queue) struct StreamConsumer {
    conn: ConnectionManager,
    key: String,
    dead_key: String,
    consumer: String,
    /// Our own pending entries are re-read first, after a restart under the same name.
    read_own_pending: bool,
}

impl StreamConsumer {
    pub(in crate::queue) async fn new(
        conn: ConnectionManager,
        prefix: &str,
        consumer: String,
    ) -> Result<Self, QueueError> {
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
    pub(in crate::queue) async fn next_batch(
        &mut self,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
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
        match entry.get::<String>(FIELD) {
            Some(raw) => Delivery::read(entry.id, raw),
            None => Delivery::empty(entry.id, format!("entry has no {FIELD:?} field")),
        }
    }

    pub(in crate::queue) async fn ack(&mut self, ids: &[String]) -> Result<(), QueueError> {
        let mut pipe = redis::pipe();
        pipe.xack(&self.key, GROUP, ids).ignore().xdel(&self.key, ids).ignore();
        pipe.query_async::<()>(&mut self.conn).await?;
        Ok(())
    }

    /// Keeps an unreadable entry, with the reason, in the dead letters' stream.
    pub(in crate::queue) async fn dead_letter(
        &mut self,
        id: &str,
        unreadable: &Unreadable,
    ) -> Result<(), QueueError> {
        let fields = [("id", id), ("raw", unreadable.raw.as_str()), ("error", unreadable.error.as_str())];
        let _: String = self.conn.xadd(&self.dead_key, "*", &fields).await?;
        Ok(())
    }
}
