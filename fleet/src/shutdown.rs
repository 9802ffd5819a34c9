//! One lifecycle for a process and every role in it, in mini-redis's shape: a cancellation
//! token tells every task to stop, and a task tracker waits for them all.
//!
//! A role's `run` takes a [`Shutdown`], spawns its background tasks through a child of it
//! ([`Shutdown::child`]), and returns only after it has stopped and waited for them
//! ([`Shutdown::stop`]): no loop, cache or server outlives the role that started it. The
//! binary makes the root, triggered by SIGTERM or SIGINT ([`Shutdown::on_signals`]); the
//! embedded demo gives its workers and its collector children of their own, so that it can
//! stop the workers first and let the collector write what they published.

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The stop signal of a group of tasks, and the tasks to wait for.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// A root whose stop is SIGTERM (what orchestrators send) or SIGINT (Ctrl-C). Fails only
    /// when the process cannot listen for signals.
    pub fn on_signals() -> std::io::Result<Self> {
        let shutdown = Self::new();
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let stop = shutdown.token.clone();
        shutdown.spawn(async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
                _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "shutting down"),
                () = stop.cancelled() => return,
            }
            stop.cancel();
        });
        Ok(shutdown)
    }

    /// A group stopped with this one, or on its own; its tasks are its owner's to wait for.
    pub fn child(&self) -> Self {
        Self { token: self.token.child_token(), tasks: TaskTracker::new() }
    }

    /// Tells every task of the group (and of its children) to stop.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the group is told to stop.
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// Waits for `interval`'s next tick; false, without waiting more, once the group is told
    /// to stop. The loop of a periodic task: `while stop.tick(&mut interval).await { ... }`.
    pub async fn tick(&self, interval: &mut tokio::time::Interval) -> bool {
        tokio::select! {
            _ = interval.tick() => true,
            () = self.triggered() => false,
        }
    }

    /// [`Self::triggered`] as a future of its own, for APIs that keep it (a server's
    /// graceful shutdown).
    pub fn triggered_owned(&self) -> impl Future<Output = ()> + Send + 'static {
        self.token.clone().cancelled_owned()
    }

    /// Runs `task` as a task of the group: [`Self::wait`] waits for it.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// Waits until every task of the group has ended; spawning after this is a mistake the
    /// tracker still honours (the task is waited for too).
    pub async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Tells the group to stop and waits for its tasks.
    pub async fn stop(&self) {
        self.trigger();
        self.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn stop_returns_after_every_task_has_ended() {
        let shutdown = Shutdown::new();
        let ended = Arc::new(AtomicBool::new(false));
        let flag = ended.clone();
        let group = shutdown.clone();
        shutdown.spawn(async move {
            group.triggered().await;
            // Clean-up that takes a while: stop must wait for it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            flag.store(true, Ordering::SeqCst);
        });
        shutdown.stop().await;
        assert!(ended.load(Ordering::SeqCst), "stop returned before the task ended");
    }

    #[tokio::test]
    async fn a_child_stops_with_its_parent_but_not_the_other_way() {
        let parent = Shutdown::new();
        let child = parent.child();
        child.stop().await;
        assert!(child.is_triggered());
        assert!(!parent.is_triggered(), "a child's stop is its own");
        let other = parent.child();
        parent.trigger();
        assert!(other.is_triggered(), "a parent's stop reaches its children");
    }

    #[tokio::test]
    async fn a_periodic_task_ticks_until_the_stop_and_not_after() {
        let shutdown = Shutdown::new();
        let mut interval = tokio::time::interval(Duration::from_millis(1));
        assert!(shutdown.tick(&mut interval).await, "ticks while running");
        assert!(shutdown.tick(&mut interval).await);
        let mut hour = tokio::time::interval(Duration::from_secs(3600));
        hour.tick().await;
        let group = shutdown.clone();
        let waiting = tokio::spawn(async move { group.tick(&mut hour).await });
        shutdown.trigger();
        let ticked =
            tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("the stop ends the wait");
        assert!(!ticked.unwrap(), "a stopped group's loop ends instead of waiting for the hour");
    }
}
