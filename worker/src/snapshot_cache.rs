//! Snapshot files that several jobs read, downloaded and decoded once. A forecast run's pairs
//! share files of many pairs (`ml_core::snapshot`): without this, each of a file's hundred
//! jobs would download and decode the bars of all hundred pairs. The trigger pushes a file's
//! jobs together and the queue hands them out in order, so the few most recent files are the
//! ones jobs ask for; two jobs that ask for one file at once wait for one download.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use fleet::store::{ArtifactStore, StoreError};
use ml_core::job::Snapshot;
use ml_core::snapshot::SnapshotBars;
use tokio::sync::OnceCell;

/// Files kept, the most recently asked for. The trigger keeps a file to some 50,000 bars
/// (3 MB decoded), so these hold a few batches of a run's jobs in little memory.
const FILES_KEPT: usize = 4;

/// A file, or its download in progress.
type File = Arc<OnceCell<Arc<SnapshotBars>>>;

#[derive(Debug, Default)]
pub(crate) struct SnapshotCache {
    /// By the sha256 of the file's bytes (checked on download), the most recent last.
    files: Mutex<VecDeque<(String, File)>>,
}

impl SnapshotCache {
    /// The decoded file `snapshot` names: kept, or downloaded now (once for every caller).
    pub(crate) async fn get(
        &self,
        store: &ArtifactStore,
        snapshot: &Snapshot,
    ) -> Result<Arc<SnapshotBars>, StoreError> {
        let file = self.file(&snapshot.sha256);
        // A failed download leaves the cell empty: the next job tries again.
        let bars = file.get_or_try_init(|| async { store.get_snapshot_file(snapshot).await.map(Arc::new) });
        bars.await.cloned()
    }

    fn file(&self, sha256: &str) -> File {
        // A panic elsewhere cannot leave the list half-edited: every edit is one call.
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let file = match files.iter().position(|(kept, _)| kept == sha256) {
            Some(at) => {
                let file = Arc::clone(&files[at].1);
                files.remove(at);
                file
            }
            None => File::default(),
        };
        files.push_back((sha256.to_owned(), Arc::clone(&file)));
        if files.len() > FILES_KEPT {
            files.pop_front();
        }
        file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recently_asked_files_by_hash() {
        let cache = SnapshotCache::default();
        let kept: Vec<File> = ["a", "b", "c", "d"].into_iter().map(|sha256| cache.file(sha256)).collect();
        assert!(Arc::ptr_eq(&kept[0], &cache.file("a")), "a file asked again is the same cell");
        cache.file("e");
        assert!(!Arc::ptr_eq(&kept[1], &cache.file("b")), "the least recently asked went");
        // Now: d, a, e, b; c went when b came back.
        assert!(Arc::ptr_eq(&kept[0], &cache.file("a")) && Arc::ptr_eq(&kept[3], &cache.file("d")));
        assert!(!Arc::ptr_eq(&kept[2], &cache.file("c")));
    }
}
