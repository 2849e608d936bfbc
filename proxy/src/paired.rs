//! One upstream connection per keep-alive client connection, driven by that connection's
//! own task.
//!
//! Forwarding through the shared pool costs every request a pool checkout and a hand-off
//! to the task that owns the upstream connection, and its response a hand-off back: two
//! task wake-ups and the pool's bookkeeping. A client HTTP/1.1 connection carries one
//! request at a time, so it can own one upstream connection outright and poll it itself
//! (`Driver`, in the same `select!` as the client connection). The app then sees one
//! connection per ALB connection, as it would without the sidecar.
//!
//! A client connection earns its own upstream connection with its second keep-alive
//! request; its first, one-shot requests (`Connection: close`) and HTTP/2 streams use the
//! shared pool. So a client that opens a connection per request, or opens one and walks
//! away, does not cost the app a connection of its own, and a first request never waits
//! for a new upstream connection when the pool has one. Like a pooled one, a paired
//! upstream connection unused for `--upstream-pool-idle-timeout` is closed.
//!
//! The response deadline (`--upstream-timeout`) of a paired exchange is kept by the
//! same `Driver`, lazily: a request records its deadline in the slot, and the driver's
//! one timer, which looks at least every `min(idle limit, timeout)`, closes the upstream
//! connection once a deadline passes, which ends the exchange as a timeout. A
//! `tokio::time::timeout` per request would register and cancel a timer-wheel entry for
//! every request (the wheel is locked for each); this timer fires a few times a minute per
//! busy connection, whatever the request rate.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::{Request, Response, Uri};
use hyper::body::Incoming;

use crate::body::RequestBody;
use crate::connect::{Connector, Stream};
use crate::timer::LazySleep;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;
use tower_service::Service;

/// hyper's connection with upgrades, whose type it does not name.
type Conn = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// Why a paired exchange failed.
#[derive(Debug)]
pub enum PairedError {
    Connect(Box<dyn std::error::Error + Send + Sync>),
    Request(hyper::Error),
    /// No response head by the deadline.
    Timeout,
}

/// The upstream connection of one client connection. Clones share it.
///
/// The mutex is only ever taken by the client connection's own task (its service and
/// its `Driver`, which that task polls in turn), never across an `.await`: it is never
/// contended and never waits.
#[derive(Clone)]
pub struct Paired(Arc<Shared>);

struct Shared {
    /// A connection unused this long is closed (the app may be about to close it).
    max_idle: Duration,
    /// How long an exchange may wait for its response head.
    timeout: Duration,
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    /// Keep-alive requests seen on the client connection (saturating).
    requests: u32,
    /// Taken out while a request is being sent, put back once it is dispatched.
    sender: Option<(http1::SendRequest<RequestBody>, Instant)>,
    /// Polled by the `Driver`; `None` until the first request, or after it closed.
    conn: Option<Conn>,
    /// The `Driver`'s waker, to wake it when a new connection is handed over: nothing
    /// else would, as a connection registers its wake-ups only once polled.
    driver: Option<Waker>,
    /// While an exchange waits for its response head: when it must have it.
    deadline: Option<Instant>,
    /// Set by the `Driver` when it closed the connection at `deadline`.
    timed_out: bool,
}

impl std::fmt::Debug for Paired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Without taking the lock: a `Debug` call must never wait on it.
        f.debug_struct("Paired")
            .field("max_idle", &self.0.max_idle)
            .field("timeout", &self.0.timeout)
            .finish_non_exhaustive()
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Slot> {
    // A panic while holding it cannot leave the slot half-changed: every change is a
    // single assignment.
    shared.slot.lock().unwrap_or_else(|e| e.into_inner())
}

impl Paired {
    /// `max_idle`: the unused time after which the connection is closed; `timeout`: how
    /// long an exchange may wait for its response head.
    pub fn new(max_idle: Duration, timeout: Duration) -> Self {
        Self(Arc::new(Shared {
            max_idle,
            timeout,
            slot: Mutex::default(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        lock(&self.0)
    }

    /// The future the client connection's task polls beside the connection; it never
    /// completes.
    pub fn driver(&self) -> Driver {
        Driver {
            shared: Some(self.0.clone()),
            idle_check: None,
        }
    }

    /// Counts a keep-alive request on the client connection; true once it has earned
    /// its own upstream connection (from its second such request).
    pub fn count_keep_alive_request(&self) -> bool {
        let mut slot = self.lock();
        slot.requests = slot.requests.saturating_add(1);
        slot.requests >= 2
    }

    /// Sends `req` (origin-form URI, `Host` set) on this client's upstream connection,
    /// opening one with `connector` if there is none, it closed, or it has been unused
    /// for the idle limit. A request that was never written because the connection
    /// turned out closed is sent once more on a new one. Fails with `Timeout` when no
    /// response head has come within the timeout of the call.
    pub async fn send(
        &self,
        connector: &Connector,
        target: &Uri,
        req: Request<RequestBody>,
    ) -> Result<Response<Incoming>, PairedError> {
        let max_idle = self.0.max_idle;
        let deadline = Instant::now() + self.0.timeout;
        let reusable = {
            let mut slot = self.lock();
            slot.deadline = Some(deadline);
            slot.timed_out = false;
            slot.sender
                .take()
                .filter(|(s, used)| !s.is_closed() && used.elapsed() < max_idle)
        };
        let mut sender = match reusable {
            Some((mut sender, _)) => match sender.ready().await {
                Ok(()) => sender,
                Err(_) => self.connect_by(connector, target, deadline).await?,
            },
            None => self.connect_by(connector, target, deadline).await?,
        };
        let sent = sender.try_send_request(req);
        self.lock().sender = Some((sender, Instant::now()));
        let result = sent.await;
        // A timeout closed the connection, which ended `sent` with a (retryable) error:
        // that request must not be sent again.
        self.answered()?;
        match result {
            Ok(response) => Ok(response),
            Err(mut e) => match e.take_message() {
                Some(req) => {
                    let mut sender = self.connect_by(connector, target, deadline).await?;
                    self.lock().deadline = Some(deadline);
                    let sent = sender.send_request(req);
                    self.lock().sender = Some((sender, Instant::now()));
                    let result = sent.await;
                    self.answered()?;
                    result.map_err(PairedError::Request)
                }
                None => Err(PairedError::Request(e.into_error())),
            },
        }
    }

    /// Ends the wait for a response head: `Timeout` if the `Driver` ended it.
    fn answered(&self) -> Result<(), PairedError> {
        let mut slot = self.lock();
        slot.deadline = None;
        match std::mem::take(&mut slot.timed_out) {
            true => Err(PairedError::Timeout),
            false => Ok(()),
        }
    }

    /// [`Paired::connect`], by `deadline`: the `Driver` has no connection to watch while
    /// one is being opened, so this rare step keeps a timer of its own.
    async fn connect_by(
        &self,
        connector: &Connector,
        target: &Uri,
        deadline: Instant,
    ) -> Result<http1::SendRequest<RequestBody>, PairedError> {
        let connecting = Box::pin(self.connect(connector, target));
        tokio::time::timeout_at(deadline, connecting)
            .await
            .unwrap_or(Err(PairedError::Timeout))
    }

    /// Opens a new upstream connection and hands it to the `Driver`, replacing (and so
    /// closing) any previous one. Callers box this future: connecting is rare, and its
    /// state (hyper's handshake) would otherwise enlarge the send future allocated for
    /// every request.
    async fn connect(
        &self,
        connector: &Connector,
        target: &Uri,
    ) -> Result<http1::SendRequest<RequestBody>, PairedError> {
        let (mut sender, conn) = handshake(connector, target).await?;
        {
            let mut slot = self.lock();
            slot.conn = Some(Box::pin(conn.with_upgrades()));
            if let Some(driver) = &slot.driver {
                driver.wake_by_ref();
            }
        }
        // Ready at once: nothing has been sent on it.
        std::future::poll_fn(|cx| sender.poll_ready(cx))
            .await
            .map_err(PairedError::Request)?;
        Ok(sender)
    }
}

/// A new HTTP/1.1 connection to the app: its sender, and the connection future that must
/// be polled for it to do anything.
pub(crate) async fn handshake(
    connector: &Connector,
    target: &Uri,
) -> Result<
    (
        http1::SendRequest<RequestBody>,
        http1::Connection<TokioIo<Stream>, RequestBody>,
    ),
    PairedError,
> {
    let io = connector
        .clone()
        .call(target.clone())
        .await
        .map_err(PairedError::Connect)?;
    http1::handshake(io).await.map_err(PairedError::Request)
}

/// Polls the paired upstream connection while there is one, and closes it once unused
/// for the idle limit. Never completes.
pub struct Driver {
    /// `None` for an HTTP/2 connection, which has no paired connection to poll.
    shared: Option<Arc<Shared>>,
    /// Armed while there is a connection, for the idle limit and the response deadline.
    /// Not moved at each request (that would be a timer update per request): when it
    /// fires early, it is re-armed for the rest. Lazy: the task polls it at every wake-up.
    idle_check: Option<LazySleep>,
}

impl Driver {
    /// A driver with nothing to drive, for a connection without a paired one (HTTP/2).
    pub fn none() -> Self {
        Self {
            shared: None,
            idle_check: None,
        }
    }
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Driver")
    }
}

impl Future for Driver {
    type Output = std::convert::Infallible;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(shared) = &this.shared else {
            return Poll::Pending;
        };
        let (max_idle, timeout) = (shared.max_idle, shared.timeout);
        let mut slot = lock(shared);
        if !slot
            .driver
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            slot.driver = Some(cx.waker().clone());
        }
        if let Some(conn) = slot.conn.as_mut() {
            if let Poll::Ready(result) = conn.as_mut().poll(cx) {
                if let Err(error) = result {
                    tracing::debug!(%error, "upstream connection ended with an error");
                }
                // Closed by the app, or handed over to an upgrade: the sender now
                // reports closed, and the next request opens a new connection.
                slot.conn = None;
            }
        }
        // Nothing tells this timer when a request starts (that would be a timer update
        // per request), so it never sleeps longer than `recheck`: a deadline recorded
        // after it was set is at least `timeout` away, so it is seen in time, and the
        // timer is then set to it exactly. Deadlines are recorded times: looking early
        // never shortens one.
        let recheck = max_idle.min(timeout);
        while slot.conn.is_some() {
            if let Some(check) = this.idle_check.as_mut() {
                if Pin::new(check).poll(cx).is_pending() {
                    break;
                }
            }
            let now = Instant::now();
            if slot.deadline.is_some_and(|d| now >= d) {
                // Closing the connection ends the exchange with an error, which the
                // sender reports as a timeout; it wakes this task.
                tracing::debug!(
                    "no response head from the upstream in time; closing its connection"
                );
                slot.timed_out = true;
                slot.deadline = None;
                slot.conn = None;
                slot.sender = None;
                break;
            }
            // Idle: dispatched (sender back in the slot) and its response done.
            let unused_since = match &slot.sender {
                Some((sender, used)) if slot.deadline.is_none() && sender.is_ready() => Some(*used),
                _ => None,
            };
            let next = match unused_since {
                Some(used) if now >= used + max_idle => {
                    tracing::debug!("closing an idle upstream connection");
                    slot.conn = None;
                    slot.sender = None;
                    break;
                }
                Some(used) => used + max_idle,
                None => now + max_idle,
            };
            let next = slot
                .deadline
                .map_or(next, |d| next.min(d))
                .min(now + recheck);
            // At least a millisecond ahead (the timer's resolution), so that the timer
            // is pending when polled again and this loop ends.
            let next = next.max(now + Duration::from_millis(1));
            match this.idle_check.as_mut() {
                Some(check) => check.reset(next),
                None => this.idle_check = Some(LazySleep::until(next)),
            }
        }
        if slot.conn.is_none() {
            this.idle_check = None;
        }
        Poll::Pending
    }
}
