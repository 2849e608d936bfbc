//! API Gateway deployments, paced.
//!
//! "CreateDeployment: 1 request every 5 seconds per account" (API Gateway quotas for
//! configuring and running a REST API; the quota cannot be raised). Every deployment this
//! process makes, REST or HTTP API, takes its turn here, at least [`ACCOUNT_INTERVAL`]
//! after the one before; a TooManyRequestsException (someone else deployed in the
//! account) is retried with a growing pause until the deadline.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::SyncError;
use crate::progress::Progress;

/// The account's CreateDeployment rate: one every 5 seconds.
pub const ACCOUNT_INTERVAL: Duration = Duration::from_secs(5);
/// The longest pause between throttled attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(40);

#[derive(Debug)]
pub struct DeploymentPacer {
    interval: Duration,
    last: Mutex<Option<Instant>>,
}

impl Default for DeploymentPacer {
    fn default() -> Self {
        Self::new(ACCOUNT_INTERVAL)
    }
}

impl DeploymentPacer {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
        }
    }

    /// Runs `deploy` (one CreateDeployment) in its turn; retries it while throttled, until
    /// `deadline`. `what` names the stage in progress output.
    pub async fn deploy<T, F, Fut>(
        &self,
        what: &str,
        deadline: Instant,
        progress: &dyn Progress,
        mut deploy: F,
    ) -> Result<T, SyncError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SyncError>>,
    {
        let mut backoff = self.interval;
        loop {
            let mut last = self.last.lock().await;
            if let Some(at) = *last {
                let turn = at + self.interval;
                if turn > Instant::now() {
                    progress.step(&format!(
                        "{what}: waiting {}ms for the account's deployment quota (1 per 5 s)",
                        (turn - Instant::now()).as_millis()
                    ));
                    tokio::time::sleep_until(turn).await;
                }
            }
            let result = deploy().await;
            *last = Some(Instant::now());
            drop(last);
            match result {
                Err(e) if e.is_throttling() => {
                    if Instant::now() + backoff > deadline {
                        return Err(SyncError::Timeout(format!(
                            "{what}: deployments still throttled at the deadline ({e}); run the step again"
                        )));
                    }
                    progress.step(&format!(
                        "{what}: CreateDeployment throttled (TooManyRequests); trying again in {}s",
                        backoff.as_secs()
                    ));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::progress::Quiet;

    fn throttled() -> SyncError {
        SyncError::Aws {
            target: "t".into(),
            operation: "CreateDeployment",
            code: Some("TooManyRequestsException".into()),
            retryable: true,
            source: "Too Many Requests".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn deployments_are_spaced_by_the_quota_and_throttling_is_retried() {
        let pacer = DeploymentPacer::default();
        let start = Instant::now();
        let far = start + Duration::from_secs(600);
        let mut at = Vec::new();
        for _ in 0..3 {
            pacer
                .deploy("s", far, &Quiet, || async { Ok(()) })
                .await
                .unwrap();
            at.push(start.elapsed().as_secs());
        }
        assert_eq!(at, [0, 5, 10]);
        let calls = AtomicUsize::new(0);
        pacer
            .deploy("s", far, &Quiet, || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(throttled()),
                    _ => Ok(()),
                }
            })
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let near = Instant::now() + Duration::from_secs(7);
        let e = pacer
            .deploy("s", near, &Quiet, || async { Err::<(), _>(throttled()) })
            .await
            .unwrap_err();
        assert!(matches!(e, SyncError::Timeout(_)), "{e}");
    }
}
