//! The two per-connection deadlines hyper cannot keep apart.
//!
//! hyper's `header_read_timeout` also runs while a keep-alive connection waits for its next
//! request, so it would cap idle keep-alive time at the (short) slowloris bound, and an
//! ALB reusing such a connection after it was closed answers 502. So hyper's timer is off
//! and this clock keeps two deadlines instead, as Go and Envoy do:
//!
//! - idle: no request in progress, no byte of a new one received: `--idle-timeout`
//!   (must exceed the ALB's 60 s);
//! - head: the first byte of a request head received, the head not yet complete:
//!   `--header-read-timeout`.
//!
//! While a request is in progress (from its complete head until its response body is
//! sent) neither applies. [`TimedIo`] notices the first byte; [`BusyGuard`] spans a
//! request; [`watch`] resolves when a deadline passes, and the caller closes the
//! connection. Updates are relaxed atomics on the connection's own clock: no lock.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Instant;

use crate::timer::LazySleep;

/// Top bit of `mark`: set while a request head is being read; the rest: milliseconds
/// since `origin` when that phase began.
const HEAD: u64 = 1 << 63;

/// Which deadline ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    Idle,
    HeaderRead,
}

#[derive(Debug)]
pub struct ConnClock {
    origin: Instant,
    busy: AtomicUsize,
    mark: AtomicU64,
    /// HTTP/1 only: on HTTP/2, bytes arrive on an idle connection (PING, SETTINGS) without
    /// starting a request, and a stream's head is bounded by the h2 layer.
    head_phase: bool,
}

impl Default for ConnClock {
    fn default() -> Self {
        Self::new(true)
    }
}

impl ConnClock {
    pub fn new(head_phase: bool) -> Self {
        Self {
            origin: Instant::now(),
            busy: AtomicUsize::new(0),
            mark: AtomicU64::new(0),
            head_phase,
        }
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64 & !HEAD
    }

    /// Bytes arrived: if the connection was idle, a request head has begun.
    fn on_read(&self) {
        if self.head_phase && self.busy.load(Relaxed) == 0 && self.mark.load(Relaxed) & HEAD == 0 {
            self.mark.store(HEAD | self.now_ms(), Relaxed);
        }
    }

    fn phase(&self) -> (bool, Instant) {
        let mark = self.mark.load(Relaxed);
        let since = self.origin + Duration::from_millis(mark & !HEAD);
        (mark & HEAD != 0, since)
    }
}

/// Held from a request's complete head until its response body is done (or dropped).
#[derive(Debug)]
pub struct BusyGuard(Arc<ConnClock>);

impl BusyGuard {
    pub fn new(clock: &Arc<ConnClock>) -> Self {
        clock.busy.fetch_add(1, Relaxed);
        Self(clock.clone())
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Relaxed) == 1 {
            // Last request done: the connection is idle from now.
            self.0.mark.store(self.0.now_ms(), Relaxed);
        }
    }
}

/// Resolves when the connection has been idle for `idle`, or has spent `head` reading
/// one request head. Never resolves while a request is in progress.
pub async fn watch(clock: &ConnClock, idle: Duration, head: Duration) -> Expired {
    // Nothing wakes this future when the phase changes (that would cost a lock or a
    // waker per request), so it looks again at least every `recheck`. A phase that begins
    // after a look ends `recheck` or more after it, so its deadline is never missed;
    // deadlines come from the recorded times, so looking late never shortens one.
    let recheck = idle.min(head);
    // Polled at every wake-up of the connection's task, so a lazy one (see `timer`).
    let mut timer = LazySleep::until(Instant::now() + recheck);
    loop {
        let now = Instant::now();
        if clock.busy.load(Relaxed) > 0 {
            timer.reset(now + recheck);
            (&mut timer).await;
            continue;
        }
        let (reading_head, since) = clock.phase();
        let (limit, expired) = if reading_head {
            (head, Expired::HeaderRead)
        } else {
            (idle, Expired::Idle)
        };
        let deadline = since + limit;
        if now >= deadline {
            // Re-check: a request may have started while we computed.
            if clock.busy.load(Relaxed) == 0 && clock.phase() == (reading_head, since) {
                return expired;
            }
            continue;
        }
        timer.reset(deadline.min(now + recheck));
        (&mut timer).await;
    }
}

/// An IO stream that tells its clock when bytes arrive.
#[derive(Debug)]
pub struct TimedIo<T> {
    inner: T,
    clock: Arc<ConnClock>,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, clock: Arc<ConnClock>) -> Self {
        Self { inner, clock }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.clock.on_read();
        }
        polled
    }
}

crate::io_wrap::forward_writes!(TimedIo);

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(75);
    const HEAD_T: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_lasts_the_idle_timeout_not_the_head_timeout() {
        let clock = ConnClock::default();
        let start = Instant::now();
        assert_eq!(watch(&clock, IDLE, HEAD_T).await, Expired::Idle);
        assert_eq!(start.elapsed(), IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_started_head_must_complete_within_the_head_timeout() {
        let clock = ConnClock::default();
        tokio::time::advance(Duration::from_secs(30)).await;
        clock.on_read();
        let start = Instant::now();
        assert_eq!(watch(&clock, IDLE, HEAD_T).await, Expired::HeaderRead);
        assert_eq!(start.elapsed(), HEAD_T);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_begun_while_the_watchdog_sleeps_is_still_cut_off() {
        let clock = Arc::new(ConnClock::default());
        let watching = tokio::spawn({
            let clock = clock.clone();
            async move { watch(&clock, IDLE, HEAD_T).await }
        });
        // Let the watchdog go to sleep on the idle deadline, then start a head.
        tokio::time::sleep(Duration::from_secs(3)).await;
        clock.on_read();
        let begun = Instant::now();
        assert_eq!(watching.await.unwrap(), Expired::HeaderRead);
        assert!(begun.elapsed() >= HEAD_T && begun.elapsed() <= HEAD_T + Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_never_expires_and_idles_from_the_end_of_the_response() {
        let clock = Arc::new(ConnClock::default());
        clock.on_read();
        let guard = BusyGuard::new(&clock);
        let slow = tokio::time::timeout(Duration::from_secs(300), watch(&clock, IDLE, HEAD_T));
        assert!(
            slow.await.is_err(),
            "expired while a request was in progress"
        );
        drop(guard);
        let done = Instant::now();
        assert_eq!(watch(&clock, IDLE, HEAD_T).await, Expired::Idle);
        assert_eq!(done.elapsed(), IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn on_http2_bytes_while_idle_do_not_start_a_head_deadline() {
        let clock = ConnClock::new(false);
        tokio::time::advance(Duration::from_secs(5)).await;
        clock.on_read();
        let start = Instant::now();
        assert_eq!(watch(&clock, IDLE, HEAD_T).await, Expired::Idle);
        assert_eq!(start.elapsed(), IDLE - Duration::from_secs(5));
    }
}
