//! The jobs a worker process is running, each a task of its own, counted: the pool's free
//! slots are its concurrency less this count, and a stopping worker waits for it to fall to
//! zero.

use std::sync::Arc;

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
    /// Runs `job` as a task of its own, counted until it ends; then hands its output to
    /// `then`, which sees the count without it (a pool told of a finished job finds its slot
    /// free).
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        job: impl Future<Output = T> + Send + 'static,
        then: impl FnOnce(T) + Send + 'static,
    ) {
        self.count.send_modify(|count| *count += 1);
        let finished = Finished(self.count.clone());
        tokio::spawn(async move {
            let output = job.await;
            drop(finished);
            then(output);
        });
    }

    pub(crate) fn count(&self) -> usize {
        *self.count.borrow()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_job_is_counted_until_it_ends_even_by_a_panic() {
        let running = Running::default();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        running.spawn(
            async move {
                let _ = released.await;
            },
            drop,
        );
        running.spawn(async { panic!("a job that panics") }, drop);
        let mut count = running.count.subscribe();
        let all_ended = |count: &usize| *count == 0;
        let early = tokio::time::timeout(Duration::from_millis(100), count.wait_for(all_ended)).await.is_ok();
        assert!(!early, "one job still waits");
        release.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), count.wait_for(all_ended)).await.unwrap().unwrap();
        assert_eq!(running.count(), 0);
    }
}
