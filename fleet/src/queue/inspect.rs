//! What the dashboard's queue page reads: how many jobs are where, and the dead jobs with
//! their errors; the same types from both backends.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::task_id;

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
