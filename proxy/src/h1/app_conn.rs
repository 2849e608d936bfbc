//! The fast path's own connection to the app: one per client connection, opened at its
//! first forwarded request and kept while both sides keep alive. No pool, no dispatch
//! channel, no second task: the client connection's task writes the request and reads
//! the response itself.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::Instant;
use tower_service::Service;

use crate::connect::Stream;
use crate::forward::Upstream;

use super::buf::Buf;

#[derive(Debug)]
pub(super) struct AppConn {
    pub(super) io: Stream,
    /// What the app sent and the fast path has not relayed yet.
    pub(super) buf: Buf,
    /// When its last exchange ended.
    used: Instant,
    /// It has carried an exchange before: a failure with no response byte may mean the
    /// app closed it meanwhile (the request can then go once more on a new one).
    pub(super) reused: bool,
}

impl AppConn {
    /// A new connection (within `--upstream-connect-timeout`: the connector's).
    pub(super) async fn open(upstream: &Upstream) -> Result<Self, crate::body::BoxError> {
        let io = upstream
            .connector()
            .clone()
            .call(upstream.target().clone())
            .await?;
        Ok(Self {
            io: io.into_inner(),
            buf: Buf::default(),
            used: Instant::now(),
            reused: false,
        })
    }

    /// Ready for another exchange: unused for less than `max_idle` (the app may be about
    /// to close it, as with the pool's connections) and not closed by the app meanwhile,
    /// nor holding bytes nobody asked for. Looks without waiting: one read attempt that
    /// must find nothing.
    pub(super) fn reusable(&mut self, max_idle: Duration) -> bool {
        if !self.buf.is_empty() || self.used.elapsed() >= max_idle {
            return false;
        }
        let mut byte = [0u8; 1];
        let mut read = ReadBuf::new(&mut byte);
        let mut cx = Context::from_waker(Waker::noop());
        matches!(
            Pin::new(&mut self.io).poll_read(&mut cx, &mut read),
            Poll::Pending
        )
    }

    /// How long since its last exchange ended.
    pub(super) fn unused_for(&self) -> Duration {
        self.used.elapsed()
    }

    /// When it will have been unused for `max_idle`.
    pub(super) fn idle_deadline(&self, max_idle: Duration) -> Instant {
        self.used + max_idle
    }

    /// An exchange ended with the connection in a state to carry another.
    pub(super) fn done(&mut self) {
        self.used = Instant::now();
        self.reused = true;
    }
}
