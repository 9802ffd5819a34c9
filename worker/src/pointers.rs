//! The `latest.json` pointers a worker read, by pair: its next forecast of a pair asks the
//! store whether the pointer moved since (a conditional GET) instead of reading it again.
//! Every forecast still asks: a promotion is seen by the next forecast, as without them.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use fleet::store::ReadPointer;
use ml_core::job::Pair;

/// Pairs whose pointers are kept at most (about 400 bytes each); past it, one is forgotten
/// for each new one, whose next read is a whole one again.
const POINTERS_KEPT: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct Pointers {
    read: Mutex<HashMap<Pair, ReadPointer>>,
}

impl Pointers {
    pub(crate) fn get(&self, pair: &Pair) -> Option<ReadPointer> {
        self.read.lock().unwrap_or_else(PoisonError::into_inner).get(pair).cloned()
    }

    /// Keeps what a read of `pair`'s pointer found (`None`: no pointer).
    pub(crate) fn keep(&self, pair: &Pair, read: Option<&ReadPointer>) {
        let mut pointers = self.read.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(read) = read else {
            pointers.remove(pair);
            return;
        };
        if pointers.len() >= POINTERS_KEPT && !pointers.contains_key(pair) {
            let forgotten = pointers.keys().next().cloned();
            if let Some(forgotten) = forgotten {
                pointers.remove(&forgotten);
            }
        }
        pointers.insert(pair.clone(), read.clone());
    }
}
