//! The worker's job pool: one loop that trades finished jobs for new ones with the queue, a
//! round trip at a time ([`Queue::exchange`]), and runs each job as a task of its own.
//!
//! A round trip settles every job that finished since the last one (publishing their
//! results) and takes as many jobs as there are free slots, never more: a job taken waits
//! for nobody. When the queue is away the loop keeps its settlements and tries again, for up to
//! [`QUEUE_PATIENCE`]: a Redis restart costs no finished job.

use std::time::{Duration, Instant};

use fleet::backoff::Backoff;
use fleet::queue::{self, Queue, QueueError, Settlement, Taken};
use fleet::shutdown::Shutdown;
use tokio::sync::{mpsc, watch};

use crate::running::Running;

/// The longest pause between two tries of a queue that is away.
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(2);
/// How long the queue may stay away before the worker stops, for its supervisor to restart
/// it (a restart that fails the same way says so in the supervisor's status, where a worker
/// that waits forever says nothing). A Redis restart takes seconds.
pub(crate) const QUEUE_PATIENCE: Duration = Duration::from_secs(60);

/// A job pool whose jobs `run` does: from a job taken to its settlement (`None` when the
/// worker no longer holds the job by its end).
pub(crate) struct Pool<Run> {
    pub(crate) queue: Queue,
    pub(crate) worker_id: String,
    pub(crate) concurrency: usize,
    pub(crate) run: Run,
    pub(crate) running: Running,
    /// `Some(why)` while the worker must take no job (its store unreachable).
    pub(crate) paused: watch::Receiver<Option<String>>,
}

impl<Run, Job> Pool<Run>
where
    Run: Fn(Taken) -> Job,
    Job: Future<Output = Option<Settlement>> + Send + 'static,
{
    /// Runs jobs until `shutdown` is triggered, then settles the jobs that end within
    /// `grace`; the ones still running then go back to the queue, first in line.
    pub(crate) async fn run(mut self, shutdown: &Shutdown, grace: Duration) -> Result<(), QueueError> {
        let (finished, mut settlements) = mpsc::unbounded_channel();
        let mut pending: Vec<Settlement> = Vec::new();
        let mut outage: Option<(Instant, Backoff)> = None;
        let mut deadline: Option<Instant> = None;
        loop {
            while let Ok(settlement) = settlements.try_recv() {
                pending.push(settlement);
            }
            if shutdown.is_triggered() {
                let deadline = *deadline.get_or_insert_with(|| Instant::now() + grace);
                let drained = self.running.count() == 0 && pending.is_empty();
                if drained || Instant::now() >= deadline {
                    break;
                }
            }
            let free = if shutdown.is_triggered() || self.paused.borrow().is_some() {
                0
            } else {
                self.concurrency.saturating_sub(self.running.count())
            };
            let mut took = false;
            if free > 0 || !pending.is_empty() {
                match self.queue.exchange(&self.worker_id, &pending, free).await {
                    Ok(exchange) => {
                        if let Some((since, _)) = outage.take() {
                            let waited_secs = since.elapsed().as_secs_f64();
                            tracing::info!(waited_secs, "the queue is back");
                        }
                        for (settlement, applied) in pending.drain(..).zip(exchange.settled) {
                            if !applied {
                                tracing::warn!(
                                    task_id = settlement.task_id,
                                    "another worker holds this job now (this one was taken for dead): \
                                     its result here is dropped"
                                );
                            }
                        }
                        for poisoned in exchange.poisoned {
                            tracing::error!(
                                task_id = poisoned.task_id,
                                reason = poisoned.reason,
                                "queue entry sent to the dead set"
                            );
                        }
                        took = !exchange.taken.is_empty();
                        for taken in exchange.taken {
                            let finished = finished.clone();
                            self.running.spawn((self.run)(taken), move |settlement| {
                                if let Some(settlement) = settlement {
                                    // The pool is gone only once it gave the job back.
                                    let _ = finished.send(settlement);
                                }
                            });
                        }
                    }
                    Err(error) if error.is_retryable() => {
                        let (since, backoff) = outage.get_or_insert_with(|| {
                            tracing::warn!(
                                error = %error,
                                held = pending.len(),
                                "the queue is away; finished jobs are kept until it is back"
                            );
                            (Instant::now(), Backoff::up_to(RETRY_MAX))
                        });
                        let away_secs = since.elapsed().as_secs();
                        if since.elapsed() >= QUEUE_PATIENCE {
                            tracing::error!(
                                away_secs,
                                held = pending.len(),
                                "the queue has been away too long: the worker stops for its supervisor to restart it"
                            );
                            return Err(error);
                        }
                        tracing::debug!(error = %error, away_secs, "queue still away");
                        let pause = backoff.next_delay();
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            () = shutdown.triggered(), if !shutdown.is_triggered() => {}
                        }
                        continue;
                    }
                    Err(error) => return Err(error),
                }
            }
            if took && self.running.count() < self.concurrency {
                continue;
            }
            // Nothing to do until a job ends, the poll interval passes (new jobs may have
            // come), the pause lifts or the shutdown comes.
            tokio::select! {
                Some(settlement) = settlements.recv() => pending.push(settlement),
                () = tokio::time::sleep(queue::POLL_INTERVAL) => {}
                _ = self.paused.changed() => {}
                () = shutdown.triggered(), if !shutdown.is_triggered() => {}
            }
        }
        // Off the workers' list, with the jobs still running (past the grace period).
        match self.queue.give_back(&self.worker_id).await {
            Ok(0) => {}
            Ok(jobs) => tracing::warn!(
                jobs,
                grace_secs = grace.as_secs(),
                "jobs still running after the grace period go back to the queue, first in line"
            ),
            Err(error) => {
                tracing::warn!(error = %error, "cannot give the running jobs back; the orphan rule will")
            }
        }
        if !pending.is_empty() {
            tracing::warn!(
                jobs = pending.len(),
                "finished jobs not settled (the queue was away): they run again"
            );
        }
        Ok(())
    }
}
