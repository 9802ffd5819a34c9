//! What the worker's queue backend hands the handler: a job's payload as JSON, or the fact
//! that it is not JSON.
//!
//! apalis decodes a payload before any handler sees it, and a payload its codec refuses is a
//! stream error that stops the worker's pool: one `not json {` on the queue would stop every
//! worker that fetched it, again after each restart. This codec never refuses; the handler
//! sends what it cannot read to the dead set with the reason, and goes on.

use apalis::prelude::Codec;
use ml_core::job::{JOB_SCHEMA_VERSION, Job};
use serde::ser::Error as _;

/// A job's payload as the queue holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(serde_json::Value),
    /// Bytes that do not parse as JSON, and why.
    NotJson {
        bytes: usize,
        error: String,
    },
}

/// JSON that decodes anything: what is not JSON becomes [`Payload::NotJson`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LenientJson;

impl Codec<Payload> for LenientJson {
    type Error = serde_json::Error;
    type Compact = Vec<u8>;

    fn encode(&self, payload: &Payload) -> Result<Vec<u8>, Self::Error> {
        match payload {
            Payload::Json(value) => serde_json::to_vec(value),
            Payload::NotJson { .. } => {
                Err(serde_json::Error::custom("a payload that is not JSON is never re-encoded"))
            }
        }
    }

    fn decode(&self, bytes: &Vec<u8>) -> Result<Payload, Self::Error> {
        Ok(match serde_json::from_slice(bytes) {
            Ok(value) => Payload::Json(value),
            Err(error) => Payload::NotJson { bytes: bytes.len(), error: error.to_string() },
        })
    }
}

/// The job a payload holds, or why no worker can run it (the reason its dead-set entry gets).
pub fn job_of(payload: Payload) -> Result<Job, String> {
    let payload = match payload {
        Payload::Json(value) => value,
        Payload::NotJson { bytes, error } => {
            return Err(format!("job payload of {bytes} bytes is not JSON: {error}"));
        }
    };
    let version = payload.get("schema_version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(JOB_SCHEMA_VERSION)) {
        return Err(format!(
            "job schema version {version:?}, this worker reads {JOB_SCHEMA_VERSION}: run a matching worker"
        ));
    }
    serde_json::from_value(payload).map_err(|e| format!("job payload does not parse: {e}"))
}

/// The whole way from the bytes on the queue to a job, as a worker takes it: the codec, then
/// [`job_of`]. What the fuzz tests drive.
pub fn decode_job(bytes: &[u8]) -> Result<Job, String> {
    job_of(LenientJson.decode(&bytes.to_vec()).expect("the lenient codec refuses nothing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_string_decodes_and_json_round_trips() {
        for garbage in [&b"not json {"[..], b"", b"\xff\xfe", b"{\"schema_version\": 1"] {
            let decoded = LenientJson.decode(&garbage.to_vec()).unwrap();
            assert!(
                matches!(decoded, Payload::NotJson { bytes, .. } if bytes == garbage.len()),
                "{decoded:?}"
            );
        }
        let json = br#"{"kind":"ping","schema_version":1}"#.to_vec();
        let decoded = LenientJson.decode(&json).unwrap();
        assert!(matches!(decoded, Payload::Json(_)));
        assert_eq!(LenientJson.encode(&decoded).unwrap(), json);
    }
}
