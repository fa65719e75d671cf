//! What every outbox worker shares (mail, back-channel logout, profile sync): the clock in
//! milliseconds, exponential backoff, and the loop that runs delivery rounds on a timer or
//! when woken.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub fn now_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Waits that double from `base_millis` after each failed attempt, up to `max_millis`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base_millis: u64,
    pub max_millis: u64,
}

impl Backoff {
    /// How long to wait after `attempts` failed attempts.
    pub fn after(&self, attempts: i32) -> i64 {
        let exponent = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
        let wait = self
            .base_millis
            .saturating_mul(1u64 << exponent)
            .min(self.max_millis);
        i64::try_from(wait).unwrap_or(i64::MAX)
    }
}

/// Tells workers to stop: each finishes the round it is in (what it holds is delivered or
/// released), then ends.
#[derive(Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

pub struct StopWorkers(tokio::sync::watch::Sender<bool>);

/// A way to stop workers, and what they watch.
pub fn shutdown() -> (StopWorkers, Shutdown) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    (StopWorkers(tx), Shutdown(rx))
}

impl StopWorkers {
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// A shutdown that never comes (tests and tools that run a worker by hand).
    pub fn never() -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        std::mem::forget(tx);
        Shutdown(rx)
    }

    pub fn is_stopping(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn stopping(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Runs `round` every `poll_millis`, and at once when `wake` is notified; a failed round is
/// logged as `what` and the next one comes as usual. On shutdown the round under way finishes
/// and no other begins.
pub fn spawn_rounds<F, Fut>(
    what: &'static str,
    poll_millis: u64,
    wake: Arc<Notify>,
    mut shutdown: Shutdown,
    round: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<usize>> + Send,
{
    tokio::spawn(async move {
        let poll = Duration::from_millis(poll_millis.max(10));
        while !shutdown.is_stopping() {
            if let Err(e) = round().await {
                tracing::warn!(error = %format!("{e:#}"), "{what} round failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = wake.notified() => {}
                _ = shutdown.stopping() => {}
            }
        }
        tracing::info!("{what} stopped");
    })
}

/// Waits for a worker to end, at most `grace`; one that does not is aborted (a delivery it
/// held is released when its claim runs out, and another instance takes it).
pub async fn join_within(what: &str, worker: JoinHandle<()>, grace: Duration) {
    let abort = worker.abort_handle();
    if tokio::time::timeout(grace, worker).await.is_err() {
        tracing::warn!("{what} did not finish within the grace period: stopped");
        abort.abort();
    }
}

/// When a periodic chore first runs after start: soon (within a minute), not a whole period
/// later, so that a service restarted more often than its period still does it.
pub fn first_run(every: std::time::Duration) -> std::time::Duration {
    every.min(std::time::Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let backoff = Backoff {
            base_millis: 100,
            max_millis: 1_000,
        };
        let waits: Vec<i64> = (0..6).map(|a| backoff.after(a)).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(backoff.after(10_000), 1_000);
    }
}
