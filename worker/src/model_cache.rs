//! Recently used models, decoded once. A forecast predicts one row, but without a cache each
//! one would download its pair's artifact, check its sha256, gunzip and decode a few hundred
//! trees first (docs/benchmarks.md measures both). A model is kept by its version and its
//! payload's hash as its manifest vouched for it when it was decoded, so a hit is the model
//! the pointer names, verified once.

use std::sync::{Arc, Mutex, PoisonError};

/// Decoded models (`ml_core::model::Model` in the worker), the most recently used last; at
/// most `capacity` of them.
#[derive(Debug)]
pub(crate) struct ModelCache<M> {
    capacity: usize,
    entries: Mutex<Vec<Entry<M>>>,
}

#[derive(Debug)]
struct Entry<M> {
    version: String,
    payload_sha256: String,
    model: Arc<M>,
}

impl<M> ModelCache<M> {
    /// A cache of `capacity` models; 0 keeps none.
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, entries: Mutex::new(Vec::with_capacity(capacity)) }
    }

    /// The model stored as `version` whose payload hashes to `payload_sha256`, if kept.
    pub(crate) fn get(&self, version: &str, payload_sha256: &str) -> Option<Arc<M>> {
        // A panic elsewhere cannot leave the list half-edited: every edit is one call.
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let at = entries.iter().position(|e| e.version == version && e.payload_sha256 == payload_sha256)?;
        let entry = entries.remove(at);
        let model = Arc::clone(&entry.model);
        entries.push(entry);
        Some(model)
    }

    /// Keeps `model` (decoded from a payload hashing to `payload_sha256`), forgetting the
    /// least recently used beyond the capacity.
    pub(crate) fn insert(&self, version: &str, payload_sha256: &str, model: Arc<M>) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|e| e.version != version);
        if entries.len() == self.capacity {
            entries.remove(0);
        }
        entries.push(Entry { version: version.to_owned(), payload_sha256: payload_sha256.to_owned(), model });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recently_used_models_by_version_and_hash() {
        let cache = ModelCache::new(2);
        cache.insert("v1", "h1", Arc::new(1));
        cache.insert("v2", "h2", Arc::new(2));
        assert_eq!(cache.get("v1", "h1").as_deref(), Some(&1), "a hit makes v1 the most recent");
        assert_eq!(cache.get("v1", "other"), None, "another payload under the same version misses");
        cache.insert("v3", "h3", Arc::new(3));
        assert_eq!(cache.get("v2", "h2"), None, "the least recently used went");
        assert_eq!(
            (cache.get("v1", "h1").as_deref(), cache.get("v3", "h3").as_deref()),
            (Some(&1), Some(&3))
        );
        cache.insert("v3", "h3b", Arc::new(4));
        assert_eq!(cache.get("v3", "h3b").as_deref(), Some(&4), "a version decoded again replaces itself");
        assert_eq!(cache.get("v1", "h1").as_deref(), Some(&1), "without pushing another out");
    }

    #[test]
    fn a_cache_of_none_keeps_nothing() {
        let cache = ModelCache::new(0);
        cache.insert("v1", "h1", Arc::new(1));
        assert_eq!(cache.get("v1", "h1"), None);
    }
}
