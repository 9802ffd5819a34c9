//! The worker's side of the queue: what it takes, what it hands back, in one exchange per
//! round trip (`Queue::exchange`). The same on both backends: `redis/lease.rs` is one Lua
//! script, `sqlite/lease.rs` one transaction.

use std::time::Duration;

/// A job a worker took: it holds it until it settles it, or until it is taken for dead and
/// the orphan rule gives the job to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub task_id: String,
    /// Counted from 1; a job handed [`Verdict::Back`] does not count the attempt.
    pub attempt: u32,
    pub payload: Vec<u8>,
}

/// A queue entry that was not a whole job (no payload, no metadata): sent to the dead set
/// with `reason` by the exchange that met it, never handed to the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poisoned {
    pub task_id: String,
    pub reason: String,
}

/// What becomes of a job its worker is done with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Finished: its result (success or failure) is in the settlement.
    Done,
    /// Failed for a reason that may pass: run again after the delay, by any worker.
    Retry { after: Duration },
    /// Never runnable (its payload unreadable): the dead set, with the reason, for a human.
    Dead { reason: String },
    /// Not this worker's to run now (its store is unreachable): first in line again for
    /// another worker, the attempt not counted.
    Back,
}

/// A job a worker hands back with its verdict and, for a finished job, its result's JSON,
/// published on the results stream in the same step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub task_id: String,
    pub verdict: Verdict,
    pub result: Option<String>,
}

/// The answer to one exchange.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Per settlement, in order: whether it was applied. False when the worker no longer
    /// held the job (taken for dead, the job given to another): its result was dropped.
    pub settled: Vec<bool>,
    pub taken: Vec<Taken>,
    pub poisoned: Vec<Poisoned>,
}
