//! One timer per client connection for its app connection: the response deadline of the
//! exchange in progress, and the idle limit between exchanges.
//!
//! A `tokio::time::timeout` per request would register and cancel a timer-wheel entry for
//! every request; this one (`timer::LazySleep`) is set only when it fires, at least every
//! `recheck` (the shorter of the two limits) while it is awaited, as the paired
//! connection's driver does on hyper's path (`paired`). A deadline is always at least
//! `recheck` after the time the timer was last set, so the timer never fires after one:
//! it fires, sees the deadline ahead, and is set to it exactly.

use std::time::Duration;

use tokio::time::Instant;

use crate::timer::LazySleep;

#[derive(Debug)]
pub(super) struct AppTimer {
    sleep: Option<LazySleep>,
    recheck: Duration,
}

impl AppTimer {
    pub(super) fn new(recheck: Duration) -> Self {
        Self {
            sleep: None,
            recheck: recheck.max(Duration::from_millis(1)),
        }
    }

    /// Resolves once `deadline` has passed.
    pub(super) async fn until(&mut self, deadline: Instant) {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            match &mut self.sleep {
                Some(sleep) => sleep.await,
                None => {
                    self.sleep = Some(LazySleep::until(deadline.min(now + self.recheck)));
                    continue;
                }
            }
            // Fired: set it again, no further than the deadline or the recheck.
            let now = Instant::now();
            if let Some(sleep) = &mut self.sleep {
                sleep.reset(
                    deadline
                        .min(now + self.recheck)
                        .max(now + Duration::from_millis(1)),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_deadline_is_kept_on_time_whatever_the_timer_was_set_for() {
        let mut timer = AppTimer::new(Duration::from_secs(10));
        let start = Instant::now();
        // Set for an idle limit far off, then awaited for a nearer deadline.
        let idle = tokio::time::timeout(
            Duration::from_secs(1),
            timer.until(start + Duration::from_secs(60)),
        );
        assert!(idle.await.is_err());
        let deadline = Instant::now() + Duration::from_secs(10);
        timer.until(deadline).await;
        assert_eq!(Instant::now(), deadline);
        let deadline = Instant::now() + Duration::from_millis(300);
        timer.until(deadline).await;
        assert_eq!(
            Instant::now(),
            deadline,
            "fired at the recheck, then set to the deadline"
        );
    }
}
