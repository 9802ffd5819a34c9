//! What the worker's queue backend hands the handler: a job's payload as JSON, or the fact
//! that it is not JSON.
//!
//! apalis decodes a payload before any handler sees it, and a payload its codec refuses is a
//! stream error that stops the worker's pool: one `not json {` on the queue would stop every
//! worker that fetched it, again after each restart. This codec never refuses; the handler
//! sends what it cannot read to the dead set with the reason, and goes on.

use apalis::prelude::Codec;
use serde::ser::Error as _;

/// A job's payload as the queue holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Payload {
    Json(serde_json::Value),
    /// Bytes that do not parse as JSON, and why.
    NotJson {
        bytes: usize,
        error: String,
    },
}

/// JSON that decodes anything: what is not JSON becomes [`Payload::NotJson`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LenientJson;

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
