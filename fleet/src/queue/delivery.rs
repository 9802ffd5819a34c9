//! What the collector reads off the results stream, whichever backend holds it.

use ml_core::job::JobResult;

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

impl Delivery {
    /// Reads an entry's text as a result, or says why it is not one.
    pub(super) fn read(id: String, raw: String) -> Self {
        let result = serde_json::from_str(&raw).map_err(|e| Unreadable { error: e.to_string(), raw });
        Self { id, result }
    }

    /// An entry with no text to read at all.
    pub(super) fn empty(id: String, error: String) -> Self {
        Self { id, result: Err(Unreadable { raw: String::new(), error }) }
    }
}
