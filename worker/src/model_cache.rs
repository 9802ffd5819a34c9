//! Recently used models, decoded once. A forecast predicts one row, but without a cache each
//! one would download its pair's artifact, check its sha256, gunzip and decode a few hundred
//! trees first (docs/benchmarks.md measures both). A model is kept by its version and its
//! payload's hash as `latest.json` vouched for it when it was decoded, so a hit is the model
//! the pointer names, verified once.

use std::sync::{Arc, Mutex, PoisonError};

/// Decoded models (`ml_core::model::Model` in the worker), the most recently used last,
/// weighing at most `budget` bytes together: a fleet of light models fits whole, a few large
/// ones do not crowd the worker's memory.
#[derive(Debug)]
pub(crate) struct ModelCache<M> {
    budget: usize,
    entries: Mutex<Entries<M>>,
}

#[derive(Debug)]
struct Entries<M> {
    /// The most recently used last.
    list: Vec<Entry<M>>,
    /// The entries' weights together.
    bytes: usize,
}

#[derive(Debug)]
struct Entry<M> {
    version: String,
    payload_sha256: String,
    bytes: usize,
    model: Arc<M>,
}

impl<M> ModelCache<M> {
    /// A cache of models weighing `budget` bytes at most; 0 keeps none.
    pub(crate) fn new(budget: usize) -> Self {
        Self { budget, entries: Mutex::new(Entries { list: Vec::new(), bytes: 0 }) }
    }

    /// The model stored as `version` whose payload hashes to `payload_sha256`, if kept.
    pub(crate) fn get(&self, version: &str, payload_sha256: &str) -> Option<Arc<M>> {
        // A panic elsewhere cannot leave the list half-edited: every edit is one call.
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let list = &mut entries.list;
        let at = list.iter().position(|e| e.version == version && e.payload_sha256 == payload_sha256)?;
        let entry = list.remove(at);
        let model = Arc::clone(&entry.model);
        list.push(entry);
        Some(model)
    }

    /// Keeps `model` (decoded from a payload hashing to `payload_sha256`, weighing `bytes`),
    /// forgetting the least recently used beyond the budget. A model heavier than the whole
    /// budget is not kept.
    pub(crate) fn insert(&self, version: &str, payload_sha256: &str, bytes: usize, model: Arc<M>) {
        if bytes > self.budget {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(replaced) = entries.list.iter().position(|e| e.version == version) {
            entries.remove(replaced);
        }
        // Ends: with the list empty, the model fits.
        while entries.bytes + bytes > self.budget {
            entries.remove(0);
        }
        entries.bytes += bytes;
        let entry =
            Entry { version: version.to_owned(), payload_sha256: payload_sha256.to_owned(), bytes, model };
        entries.list.push(entry);
    }
}

impl<M> Entries<M> {
    fn remove(&mut self, at: usize) {
        let removed = self.list.remove(at);
        self.bytes -= removed.bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recently_used_models_by_version_and_hash() {
        let cache = ModelCache::new(20);
        cache.insert("v1", "h1", 10, Arc::new(1));
        cache.insert("v2", "h2", 10, Arc::new(2));
        assert_eq!(cache.get("v1", "h1").as_deref(), Some(&1), "a hit makes v1 the most recent");
        assert_eq!(cache.get("v1", "other"), None, "another payload under the same version misses");
        cache.insert("v3", "h3", 10, Arc::new(3));
        assert_eq!(cache.get("v2", "h2"), None, "the least recently used went");
        assert_eq!(
            (cache.get("v1", "h1").as_deref(), cache.get("v3", "h3").as_deref()),
            (Some(&1), Some(&3))
        );
        cache.insert("v3", "h3b", 10, Arc::new(4));
        assert_eq!(cache.get("v3", "h3b").as_deref(), Some(&4), "a version decoded again replaces itself");
        assert_eq!(cache.get("v1", "h1").as_deref(), Some(&1), "without pushing another out");
    }

    #[test]
    fn models_go_by_weight_and_one_too_heavy_is_not_kept() {
        let cache = ModelCache::new(100);
        for (version, weight) in [("light1", 10), ("light2", 10), ("light3", 10)] {
            cache.insert(version, "h", weight, Arc::new(weight));
        }
        cache.insert("heavy", "h", 80, Arc::new(80));
        assert_eq!(cache.get("light1", "h"), None, "80 more bytes push the oldest 10 out");
        assert!(cache.get("light2", "h").is_some() && cache.get("heavy", "h").is_some());
        cache.insert("too heavy", "h", 101, Arc::new(101));
        assert_eq!(cache.get("too heavy", "h"), None);
        assert!(cache.get("heavy", "h").is_some(), "and it pushed nothing out");
    }

    #[test]
    fn a_cache_of_none_keeps_nothing() {
        let cache = ModelCache::new(0);
        cache.insert("v1", "h1", 1, Arc::new(1));
        assert_eq!(cache.get("v1", "h1"), None);
    }
}
