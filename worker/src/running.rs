//! The jobs a worker process is running, each a task of its own, counted so that the process
//! can outlive its job pool: when the queue goes away, apalis stops the pool and drops the
//! handlers it was running, but the jobs they started run on and publish their results.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

#[derive(Debug, Clone, Default)]
pub(crate) struct Running {
    count: Arc<watch::Sender<usize>>,
}

/// Counts one running job down when it ends, however it ends (a panic included).
struct Finished(Arc<watch::Sender<usize>>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.send_modify(|count| *count -= 1);
    }
}

impl Running {
    /// Runs `job` as a task that no dropped handler can cancel.
    pub(crate) fn spawn(&self, job: impl Future<Output = ()> + Send + 'static) {
        self.count.send_modify(|count| *count += 1);
        let finished = Finished(self.count.clone());
        tokio::spawn(async move {
            let _finished = finished;
            job.await;
        });
    }

    pub(crate) fn count(&self) -> usize {
        *self.count.borrow()
    }

    /// Waits up to `limit` for every running job to end; whether they all did.
    pub(crate) async fn all_ended(&self, limit: Duration) -> bool {
        let mut count = self.count.subscribe();
        tokio::time::timeout(limit, count.wait_for(|count| *count == 0)).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_is_counted_until_it_ends_even_by_a_panic() {
        let running = Running::default();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        running.spawn(async move {
            let _ = released.await;
        });
        running.spawn(async { panic!("a job that panics") });
        assert!(!running.all_ended(Duration::from_millis(100)).await, "one job still waits");
        release.send(()).unwrap();
        assert!(running.all_ended(Duration::from_secs(5)).await);
        assert_eq!(running.count(), 0);
    }
}
