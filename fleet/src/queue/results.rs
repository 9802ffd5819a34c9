//! The results stream: workers append [`JobResult`]s; the collector reads them in batches
//! and acknowledges a batch only after the database has it. A collector that dies mid-batch
//! leaves its entries unacknowledged and reads them again, so a result is delivered at least
//! once and never dropped.
//!
//! Beside each backend of the queue: with Redis a stream with a consumer group
//! (`redis/results.rs`), with SQLite an outbox table in the queue's file (`sqlite/outbox.rs`).

use std::time::Duration;

use ml_core::job::JobResult;

pub use super::delivery::{Delivery, Unreadable};
use super::redis::results::StreamConsumer;
use super::sqlite::outbox::OutboxConsumer;
use super::{Backend, Queue, QueueError, redis, sqlite};

/// Results not yet written by a collector (written ones are deleted).
pub async fn backlog(queue: &Queue) -> Result<usize, QueueError> {
    match queue.backend() {
        Backend::Redis(conn) => redis::results::backlog(conn, queue.prefix()).await,
        Backend::Sqlite(pool) => sqlite::outbox::backlog(pool, queue.prefix()).await,
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
            Backend::Redis(conn) => redis::results::publish(conn, self.queue.prefix(), json).await,
            Backend::Sqlite(pool) => sqlite::outbox::publish(pool, self.queue.prefix(), json).await,
        }
    }
}

/// The reading end, used by the collector.
#[derive(Debug)]
pub struct ResultsConsumer {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Stream(StreamConsumer),
    Outbox(OutboxConsumer),
}

impl ResultsConsumer {
    /// Joins the collectors' consumer group as `consumer` (Redis), or opens the outbox.
    pub async fn new(queue: &Queue, consumer: String) -> Result<Self, QueueError> {
        let source = match queue.backend() {
            Backend::Redis(conn) => {
                Source::Stream(StreamConsumer::new(conn.clone(), queue.prefix(), consumer).await?)
            }
            Backend::Sqlite(pool) => {
                Source::Outbox(OutboxConsumer { pool: pool.clone(), queue: queue.prefix().to_owned() })
            }
        };
        Ok(Self { source })
    }

    /// Up to `max` entries, waiting up to `block` for some when there are none.
    pub async fn next_batch(&mut self, max: usize, block: Duration) -> Result<Vec<Delivery>, QueueError> {
        match &mut self.source {
            Source::Stream(stream) => stream.next_batch(max, block).await,
            Source::Outbox(outbox) => outbox.next_batch(max, block).await,
        }
    }

    /// Forgets entries the database holds.
    pub async fn ack(&mut self, ids: &[String]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        match &mut self.source {
            Source::Stream(stream) => stream.ack(ids).await,
            Source::Outbox(outbox) => outbox.ack(ids).await,
        }
    }

    /// Moves an unreadable entry to the dead letters, with the reason, and acks it.
    pub async fn dead_letter(&mut self, id: &str, unreadable: &Unreadable) -> Result<(), QueueError> {
        match &mut self.source {
            Source::Stream(stream) => stream.dead_letter(id, unreadable).await?,
            Source::Outbox(outbox) => outbox.dead_letter(id, unreadable).await?,
        }
        self.ack(&[id.to_owned()]).await
    }
}
