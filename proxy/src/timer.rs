//! A timer that a connection task may poll at every wake-up for almost nothing.
//!
//! A connection task polls every branch of its `select!` each time it wakes, at least twice
//! per forwarded request, and two of those branches are timers that almost never fire: the
//! idle/header-read watchdog (`conn_clock`) and the paired upstream connection's idle and
//! response deadline (`paired`). Polling a `tokio::time::Sleep` that has not fired still
//! takes the task's budget and re-registers the waker, twice per forwarded request (what
//! that cost: docs/performance.md).
//!
//! [`LazySleep`] polls its `Sleep` once to register it, and after that only once the timer
//! wheel has fired it (`Sleep::is_elapsed`, one atomic load). That is sound because the
//! waker registered by that poll stays the one to wake: a `LazySleep` is only ever polled by
//! the one task that owns the connection, and a tokio task's wakers all wake that task.
//! A poll that found the task's budget spent did not register anything (tokio returns
//! before touching the timer), so it does not count as the registering poll.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

/// A `Sleep` polled only when it may have fired; see the module's comment for the one
/// rule: poll it from a single task.
#[derive(Debug)]
pub struct LazySleep {
    sleep: Pin<Box<Sleep>>,
    /// Polled with budget to spare since created or reset: registered with the timer.
    registered: bool,
}

impl LazySleep {
    pub fn until(deadline: Instant) -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            registered: false,
        }
    }

    /// Moves the deadline; the next poll registers it again.
    pub fn reset(&mut self, deadline: Instant) {
        self.sleep.as_mut().reset(deadline);
        self.registered = false;
    }
}

impl Future for LazySleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.registered && !self.sleep.is_elapsed() {
            return Poll::Pending;
        }
        let budget = tokio::task::coop::has_budget_remaining();
        let polled = self.sleep.as_mut().poll(cx);
        self.registered = polled.is_pending() && budget;
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn it_fires_at_its_deadline_however_often_it_is_polled_before() {
        let start = Instant::now();
        let mut sleep = LazySleep::until(start + Duration::from_secs(10));
        // Polled many times while pending, as a busy connection's task would.
        for _ in 0..100 {
            let polled =
                std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut sleep).poll(cx))).await;
            assert!(polled.is_pending());
            tokio::time::advance(Duration::from_millis(50)).await;
        }
        (&mut sleep).await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_deadline_is_kept_earlier_or_later() {
        let start = Instant::now();
        let mut sleep = LazySleep::until(start + Duration::from_secs(10));
        let polled = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut sleep).poll(cx))).await;
        assert!(polled.is_pending());
        sleep.reset(start + Duration::from_secs(3));
        (&mut sleep).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        sleep.reset(start + Duration::from_secs(7));
        (&mut sleep).await;
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }

    /// Its first poll comes when the task's budget is spent: tokio then returns before
    /// registering the timer, and a `LazySleep` that counted that poll would never be
    /// polled again, and never fire.
    #[tokio::test(start_paused = true)]
    async fn a_first_poll_without_budget_does_not_count_as_registering() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..1000 {
            tx.send(i).unwrap();
        }
        let start = Instant::now();
        let mut sleep = LazySleep::until(start + Duration::from_secs(5));
        std::future::poll_fn(|cx| {
            // Each received item spends a unit of the task's budget (128 per poll).
            while rx.poll_recv(cx).is_ready() {}
            assert!(!tokio::task::coop::has_budget_remaining());
            assert!(Pin::new(&mut sleep).poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        let fired = tokio::time::timeout(Duration::from_secs(60), &mut sleep).await;
        assert!(fired.is_ok(), "never fired");
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }
}
