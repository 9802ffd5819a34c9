//! The worker's side of the queue on Redis: `lua/exchange.lua` settles and takes in one
//! round trip, a heartbeat is one `ZADD`, a clean stop gives the jobs back (`give_back.lua`).

use std::sync::LazyLock;

use apalis_redis::{Config, ConnectionManager};
use redis::Value;

use super::results::stream_key;
use crate::queue::QueueError;
use crate::queue::lease::{Exchange, Poisoned, Settlement, Taken, Verdict};

/// `exchange.lua`'s answer: 1 or 0 per settlement, `{id, payload, attempt}` per job taken,
/// `{id, reason}` per entry sent to the dead set.
type ExchangeReply = (Vec<u8>, Vec<(String, Vec<u8>, u32)>, Vec<(String, String)>);

fn in_flight(keys: &Config, worker: &str) -> String {
    format!("{}:{worker}", keys.inflight_jobs_set())
}

pub(in crate::queue) async fn exchange(
    conn: &ConnectionManager,
    keys: &Config,
    prefix: &str,
    worker: &str,
    settlements: &[Settlement],
    take: usize,
) -> Result<Exchange, QueueError> {
    static EXCHANGE: LazyLock<redis::Script> =
        LazyLock::new(|| redis::Script::new(include_str!("../../../lua/exchange.lua")));
    let mut invocation = EXCHANGE.prepare_invoke();
    invocation
        .key(keys.workers_set())
        .key(keys.active_jobs_list())
        .key(in_flight(keys, worker))
        .key(keys.job_data_hash())
        .key(keys.job_meta_hash())
        .key(keys.scheduled_jobs_set())
        .key(keys.done_jobs_set())
        .key(keys.dead_jobs_set())
        .key(stream_key(prefix))
        .arg(chrono::Utc::now().timestamp())
        .arg(take)
        .arg(worker);
    for settlement in settlements {
        let (verdict, detail) = match &settlement.verdict {
            Verdict::Done => ("done", String::new()),
            Verdict::Retry { after } => ("retry", after.as_secs().max(1).to_string()),
            Verdict::Dead { reason } => ("dead", reason.clone()),
            Verdict::Back => ("back", String::new()),
        };
        invocation
            .arg(&settlement.task_id)
            .arg(verdict)
            .arg(detail)
            .arg(settlement.result.as_deref().unwrap_or(""));
    }
    let (settled, taken, poisoned): ExchangeReply = invocation.invoke_async(&mut conn.clone()).await?;
    Ok(Exchange {
        settled: settled.into_iter().map(|applied| applied == 1).collect(),
        taken: taken
            .into_iter()
            .map(|(task_id, payload, attempt)| Taken { task_id, attempt, payload })
            .collect(),
        poisoned: poisoned.into_iter().map(|(task_id, reason)| Poisoned { task_id, reason }).collect(),
    })
}

/// Marks the worker alive now; false if it was not in the workers set (it had been taken
/// for dead, and its jobs given to others).
pub(in crate::queue) async fn beat(
    conn: &ConnectionManager,
    keys: &Config,
    worker: &str,
) -> Result<bool, QueueError> {
    let added: usize = redis::cmd("ZADD")
        .arg(keys.workers_set())
        .arg(chrono::Utc::now().timestamp())
        .arg(worker)
        .query_async(&mut conn.clone())
        .await?;
    Ok(added == 0)
}

pub(in crate::queue) async fn holds(
    conn: &ConnectionManager,
    keys: &Config,
    worker: &str,
    task_id: &str,
) -> Result<bool, QueueError> {
    let held: Value = redis::cmd("SISMEMBER")
        .arg(in_flight(keys, worker))
        .arg(task_id)
        .query_async(&mut conn.clone())
        .await?;
    Ok(matches!(held, Value::Int(1)))
}

pub(in crate::queue) async fn give_back(
    conn: &ConnectionManager,
    keys: &Config,
    worker: &str,
) -> Result<usize, QueueError> {
    static GIVE_BACK: LazyLock<redis::Script> =
        LazyLock::new(|| redis::Script::new(include_str!("../../../lua/give_back.lua")));
    Ok(GIVE_BACK
        .key(keys.workers_set())
        .key(keys.active_jobs_list())
        .key(in_flight(keys, worker))
        .arg(worker)
        .invoke_async(&mut conn.clone())
        .await?)
}
