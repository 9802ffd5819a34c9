//! What the dashboard's queue page reads and does: how many jobs are where, the dead jobs with
//! their errors, and an operator's retry or delete of one. Same answers on both backends.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Backend, Queue, QueueError, sqlite, task_id};

/// Bytes of a dead job's payload shown: enough to recognise it, bounded for a page.
pub const PAYLOAD_PREVIEW: usize = 512;

/// How many jobs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Depth {
    /// Ready to be fetched.
    pub waiting: usize,
    /// Failed, to run again after a pause.
    pub retrying: usize,
    /// Fetched by a worker (including a dead worker's, until they are taken back).
    pub in_flight: usize,
    /// Given up on: unreadable, or out of attempts.
    pub dead: usize,
    /// Finished, not yet swept.
    pub done: usize,
    pub workers_alive: usize,
}

/// A job the queue gave up on, with what its last attempt said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadJob {
    pub job_id: Uuid,
    pub attempts: u32,
    /// The last attempt's error, as the worker returned it.
    pub error: Option<String>,
    pub died_at: Option<DateTime<Utc>>,
    /// The payload's first [`PAYLOAD_PREVIEW`] bytes, as text (invalid UTF-8 replaced).
    pub payload: String,
    /// Whether the payload was longer than the preview.
    pub truncated: bool,
}

impl DeadJob {
    pub(super) fn new(
        task_id: &str,
        payload: &[u8],
        attempts: u32,
        result: Option<&str>,
        died_at: Option<i64>,
    ) -> Self {
        let preview = &payload[..payload.len().min(PAYLOAD_PREVIEW)];
        Self {
            job_id: ulid::Ulid::from_string(task_id).map_or(Uuid::nil(), |id| Uuid::from_u128(id.0)),
            attempts,
            error: result.and_then(last_error),
            died_at: died_at.and_then(|at| DateTime::from_timestamp(at, 0)),
            payload: String::from_utf8_lossy(preview).into_owned(),
            truncated: payload.len() > PAYLOAD_PREVIEW,
        }
    }
}

/// A job's stored result, as both apalis backends keep it (`{"Err": "..."}` after a failure):
/// the error's text, or `None` for a success.
fn last_error(result: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(result) {
        Ok(serde_json::Value::Object(fields)) if fields.contains_key("Ok") => None,
        Ok(serde_json::Value::Object(fields)) => match fields.get("Err") {
            Some(serde_json::Value::String(error)) => Some(error.clone()),
            Some(other) => Some(other.to_string()),
            None => Some(result.to_owned()),
        },
        _ => Some(result.to_owned()),
    }
}

/// One page of dead jobs, newest first, and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadJobs {
    pub total: usize,
    pub jobs: Vec<DeadJob>,
}

impl Queue {
    /// How many jobs are in each state, for all workers.
    pub async fn depth(&self) -> Result<Depth, QueueError> {
        let workers_alive = self.workers_alive().await?;
        let depth = match &self.backend {
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                let keys = &self.redis_keys;
                let workers: Vec<String> = redis::cmd("ZRANGE")
                    .arg(keys.workers_set())
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut conn)
                    .await?;
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
                Depth {
                    waiting: counts[0],
                    retrying: counts[1],
                    dead: counts[2],
                    done: counts[3],
                    in_flight: counts[4..].iter().sum(),
                    workers_alive,
                }
            }
            Backend::Sqlite(pool) => Depth { workers_alive, ..sqlite::depth(pool, &self.name()).await? },
        };
        Ok(depth)
    }

    /// Dead jobs, newest first: `limit` of them after the first `offset`.
    pub async fn dead_jobs(&self, limit: usize, offset: usize) -> Result<DeadJobs, QueueError> {
        match &self.backend {
            Backend::Redis(conn) => self.dead_jobs_redis(&mut conn.clone(), limit, offset).await,
            Backend::Sqlite(pool) => sqlite::dead_jobs(pool, &self.name(), limit, offset).await,
        }
    }

    async fn dead_jobs_redis(
        &self,
        conn: &mut super::ConnectionManager,
        limit: usize,
        offset: usize,
    ) -> Result<DeadJobs, QueueError> {
        let keys = &self.redis_keys;
        let meta = |id: &str| format!("{}:{id}", keys.job_meta_hash());
        let dead: Vec<String> = redis::cmd("SMEMBERS").arg(keys.dead_jobs_set()).query_async(conn).await?;
        // The set has no order: the time each died sorts them.
        let mut died = redis::pipe();
        for id in &dead {
            died.cmd("HGET").arg(meta(id)).arg("done_at");
        }
        let died: Vec<Option<i64>> =
            if dead.is_empty() { Vec::new() } else { died.query_async(conn).await? };
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

    /// Puts a dead job back in the queue with its attempts reset. False if it is not dead.
    pub async fn retry_dead(&self, job_id: Uuid) -> Result<bool, QueueError> {
        static REVIVE: LazyLock<redis::Script> =
            LazyLock::new(|| redis::Script::new(include_str!("../../lua/revive_dead.lua")));
        match &self.backend {
            Backend::Redis(conn) => {
                let keys = &self.redis_keys;
                let revived: u8 = REVIVE
                    .key(keys.dead_jobs_set())
                    .key(keys.job_data_hash())
                    .key(keys.active_jobs_list())
                    .key(keys.signal_list())
                    .key(keys.job_meta_hash())
                    .arg(task_id(job_id))
                    .invoke_async(&mut conn.clone())
                    .await?;
                Ok(revived == 1)
            }
            Backend::Sqlite(pool) => sqlite::retry_dead(pool, &self.name(), &task_id(job_id)).await,
        }
    }

    /// Deletes a dead job. False if it is not dead.
    pub async fn delete_dead(&self, job_id: Uuid) -> Result<bool, QueueError> {
        static FORGET: LazyLock<redis::Script> =
            LazyLock::new(|| redis::Script::new(include_str!("../../lua/forget_dead.lua")));
        match &self.backend {
            Backend::Redis(conn) => {
                let keys = &self.redis_keys;
                let forgotten: u8 = FORGET
                    .key(keys.dead_jobs_set())
                    .key(keys.job_data_hash())
                    .key(keys.job_meta_hash())
                    .arg(task_id(job_id))
                    .invoke_async(&mut conn.clone())
                    .await?;
                Ok(forgotten == 1)
            }
            Backend::Sqlite(pool) => sqlite::delete_dead(pool, &self.name(), &task_id(job_id)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_result_gives_the_error_it_holds() {
        assert_eq!(last_error(r#"{"Err":"bad <b>"}"#).as_deref(), Some("bad <b>"));
        assert_eq!(last_error(r#"{"Ok":null}"#), None);
        assert_eq!(last_error("not json").as_deref(), Some("not json"));
        assert_eq!(last_error(r#"{"Err":{"code":3}}"#).as_deref(), Some(r#"{"code":3}"#));
    }

    #[test]
    fn a_long_or_binary_payload_is_cut_and_made_text() {
        let id = task_id(Uuid::from_u128(7));
        let job = DeadJob::new(&id, &[0xff; 600], 2, None, Some(1_700_000_000));
        assert_eq!(job.job_id, Uuid::from_u128(7), "the task id maps back to the job id");
        assert!(job.truncated);
        assert_eq!(job.payload.chars().count(), PAYLOAD_PREVIEW);
        assert!(job.payload.chars().all(|c| c == char::REPLACEMENT_CHARACTER));
    }
}
