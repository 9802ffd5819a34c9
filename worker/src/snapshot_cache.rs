//! Forecast snapshot files that several jobs read, downloaded, decoded and their features
//! computed once. A forecast run's pairs share files of many pairs (`ml_core::snapshot`):
//! without this, each of a file's hundred jobs would download and decode the bars of all
//! hundred pairs, and polars would plan the features of each pair on its own (about 3 ms a
//! pair, against 0.6 ms a pair for a file's pairs at once: docs/benchmarks.md). The trigger
//! pushes a file's jobs together and the queue hands them out in order, so the few most
//! recent files are the ones jobs ask for; two jobs that ask for one file at once wait for one
//! download.
//!
//! Every worker that reads a file computes the features of all its pairs, also those of jobs
//! another worker runs: with W workers a file's features are computed W times. That costs less
//! than a plan per pair as long as W stays under five; a fleet of more workers would route a
//! file's jobs to one worker, or make the trigger compute the features once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use fleet::store::ArtifactStore;
use ml_core::Bar;
use ml_core::job::{Pair, Snapshot};
use ml_core::model::{self, LastBar, ModelError, Unforecastable};
use ml_core::snapshot::SnapshotBars;
use tokio::sync::OnceCell;

use crate::serve::JobError;

/// Files kept, the most recently asked for: a file's inputs are a row of features per pair,
/// so these hold a few batches of a run's jobs in little memory.
const FILES_KEPT: usize = 4;

/// What forecasts read from a snapshot file.
#[derive(Debug)]
pub(crate) enum ForecastInputs {
    /// One pair's bars (a file of a trigger older than files of many pairs): its job computes
    /// their features.
    Pair(Vec<Bar>),
    /// Every pair's last bar, their features computed at once when the file was read.
    Pairs(HashMap<Pair, Result<LastBar, Unforecastable>>),
}

impl ForecastInputs {
    /// CPU work: the features of every pair of a file of many.
    fn of(file: SnapshotBars) -> Result<Self, ModelError> {
        match file {
            SnapshotBars::Pair(bars) => Ok(Self::Pair(bars)),
            SnapshotBars::Pairs(pairs) => {
                let (pairs, series): (Vec<Pair>, Vec<Arc<[Bar]>>) = pairs.into_iter().unzip();
                let series: Vec<&[Bar]> = series.iter().map(|bars| &bars[..]).collect();
                let last_bars = model::last_bars_of_many(&series)?;
                Ok(Self::Pairs(pairs.into_iter().zip(last_bars).collect()))
            }
        }
    }

    /// What `pair`'s forecast predicts from (`None`: the file holds no bars of the pair). CPU
    /// work for a one-pair file.
    pub(crate) fn last_bar(&self, pair: &Pair) -> Option<Result<LastBar, ModelError>> {
        match self {
            Self::Pair(bars) => Some(model::last_bar(bars)),
            Self::Pairs(pairs) => pairs.get(pair).map(|last| last.clone().map_err(ModelError::from)),
        }
    }
}

/// A file's inputs, or their making in progress.
type File = Arc<OnceCell<Arc<ForecastInputs>>>;

#[derive(Debug, Default)]
pub(crate) struct SnapshotCache {
    /// By the sha256 of the file's bytes (checked on download), the most recent last.
    files: Mutex<VecDeque<(String, File)>>,
}

impl SnapshotCache {
    /// The inputs of the file `snapshot` names: kept, or made now (once for every caller).
    pub(crate) async fn get(
        &self,
        store: &ArtifactStore,
        snapshot: &Snapshot,
    ) -> Result<Arc<ForecastInputs>, JobError> {
        let file = self.file(&snapshot.sha256);
        // A failure leaves the cell empty: the next job tries again.
        let inputs = file.get_or_try_init(|| async {
            let bars = store.get_snapshot_file(snapshot).await?;
            let inputs = tokio::task::spawn_blocking(move || ForecastInputs::of(bars))
                .await
                .map_err(|e| JobError::Panicked(e.to_string()))??;
            Ok::<_, JobError>(Arc::new(inputs))
        });
        inputs.await.cloned()
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
