//! From the bytes on the queue to a job, or to the reason no worker can run them (the reason
//! the job's dead-set entry gets). Any bytes at all may arrive: a payload is never trusted to
//! be JSON, nor JSON of this worker's schema.

use ml_core::job::{JOB_SCHEMA_VERSION, Job};

/// The job `bytes` hold, or why no worker can run them. What the fuzz tests drive.
pub fn decode_job(bytes: &[u8]) -> Result<Job, String> {
    // The common case in one parse; the reason a payload is not a job takes a second look.
    if let Ok(job) = serde_json::from_slice::<Job>(bytes)
        && job.schema_version == JOB_SCHEMA_VERSION
    {
        return Ok(job);
    }
    let payload: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| format!("job payload of {} bytes is not JSON: {error}", bytes.len()))?;
    let version = payload.get("schema_version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(JOB_SCHEMA_VERSION)) {
        return Err(format!(
            "job schema version {version:?}, this worker reads {JOB_SCHEMA_VERSION}: run a matching worker"
        ));
    }
    serde_json::from_value(payload).map_err(|e| format!("job payload does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_that_are_not_a_job_say_why() {
        for garbage in [&b"not json {"[..], b"", b"\xff\xfe", b"{\"schema_version\": 1"] {
            let error = decode_job(garbage).unwrap_err();
            assert!(error.contains(&format!("{} bytes is not JSON", garbage.len())), "{error}");
        }
        let other_schema = decode_job(br#"{"kind":"ping","schema_version":999}"#).unwrap_err();
        assert!(other_schema.contains("run a matching worker"), "{other_schema}");
        let job = Job::new(uuid::Uuid::new_v4(), ml_core::job::JobKind::Ping, None);
        assert_eq!(decode_job(&serde_json::to_vec(&job).unwrap()).unwrap(), job);
    }
}
