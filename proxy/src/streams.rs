//! The upstream connections of one HTTP/2 client connection.
//!
//! An HTTP/2 connection carries many requests at once, so it cannot own one upstream
//! connection the way an HTTP/1.1 one does (`paired`). Through the shared pool, though,
//! every stream paid for the pool's checkout (the pool key hashed, the pool locked, its
//! waiters and idle lists kept: docs/performance.md has what it cost). A small set of
//! HTTP/1.1 connections that only this client connection's streams use needs none of that.
//! A stream takes the first connection of the set that is ready (its last response is
//! done), or opens one, and puts it back as soon as its request is handed over: until its
//! response is done it is not ready, so no other stream takes it.
//!
//! The set is bounded ([`MAX`]): beyond it, streams go through the shared pool, so a
//! client with hundreds of concurrent streams does not cost the app as many connections
//! of its own. A connection unused for the idle limit is closed the next time a stream
//! looks for one, and all of them when the client connection closes: dropping the set
//! drops their senders, which ends their tasks once their last response is done.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use tokio::time::Instant;

use crate::body::RequestBody;
use crate::connect::Connector;
use crate::paired::{self, PairedError};

/// At most this many upstream connections per HTTP/2 client connection.
pub const MAX: usize = 16;

type Sender = http1::SendRequest<RequestBody>;

/// The set of one HTTP/2 client connection; clones share it.
#[derive(Clone)]
pub struct Streams(Arc<Shared>);

struct Shared {
    /// A connection unused this long is closed (the app may be about to close it).
    max_idle: Duration,
    /// Locked only for a scan and a push, never across an `.await`.
    set: Mutex<Set>,
}

#[derive(Default)]
struct Set {
    /// Each with when its last request was handed over.
    conns: Vec<(Sender, Instant)>,
    /// Being opened: they count against [`MAX`] too, or streams arriving together would
    /// all open one.
    opening: usize,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams")
            .field("max_idle", &self.0.max_idle)
            .finish_non_exhaustive()
    }
}

impl Streams {
    pub fn new(max_idle: Duration) -> Self {
        Self(Arc::new(Shared {
            max_idle,
            set: Mutex::default(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Set> {
        // Every change is a single push, removal or count: a panic cannot leave it
        // half-changed.
        self.0.set.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `req` (origin-form URI, `Host` set) on a connection of the set, opening one
    /// if none is ready; a request that was never written because its connection turned
    /// out closed is sent once more on a new one. `Err(req)`: the set is full and busy,
    /// the caller sends it another way. No deadline of its own: the caller's.
    pub async fn send(
        &self,
        connector: &Connector,
        target: &Uri,
        req: Request<RequestBody>,
    ) -> Result<Result<Response<Incoming>, PairedError>, Request<RequestBody>> {
        let sent = match ready(&mut self.lock().conns, self.0.max_idle) {
            Some(sender) => Ok(sender.try_send_request(req)),
            None => Err(req),
        };
        let sent = match sent {
            Ok(sent) => sent,
            Err(req) => {
                let Some(opening) = Opening::start(self) else {
                    return Err(req);
                };
                return Ok(self.send_on_new(connector, target, req, opening).await);
            }
        };
        Ok(match sent.await {
            Ok(response) => Ok(response),
            // Never written: its connection closed under it. A new one replaces it,
            // room or not (it is the one that closed).
            Err(mut e) => match e.take_message() {
                Some(req) => {
                    let opening = Opening::start_anyway(self);
                    self.send_on_new(connector, target, req, opening).await
                }
                None => Err(PairedError::Request(e.into_error())),
            },
        })
    }

    /// Opens a connection (counted by `opening`), sends `req` on it, and adds it to the
    /// set if there is room.
    async fn send_on_new(
        &self,
        connector: &Connector,
        target: &Uri,
        req: Request<RequestBody>,
        opening: Opening<'_>,
    ) -> Result<Response<Incoming>, PairedError> {
        let connected = Box::pin(connect(connector, target)).await;
        drop(opening);
        let mut sender = connected?;
        let sent = sender.send_request(req);
        {
            let mut set = self.lock();
            if set.conns.len() + set.opening < MAX {
                set.conns.push((sender, Instant::now()));
            }
            // Else dropped: the connection closes once this response is done.
        }
        sent.await.map_err(PairedError::Request)
    }
}

/// The first ready connection of `conns`, its use recorded now; those found closed, or
/// ready but unused for `max_idle`, are dropped on the way. A busy one (not ready) is
/// kept whatever its age: its response is on its way.
fn ready(conns: &mut Vec<(Sender, Instant)>, max_idle: Duration) -> Option<&mut Sender> {
    let now = Instant::now();
    conns.retain(|(s, used)| !(s.is_closed() || s.is_ready() && now >= *used + max_idle));
    let (sender, used) = conns.iter_mut().find(|(s, _)| s.is_ready())?;
    *used = now;
    Some(sender)
}

/// A connection being opened, counted in the set until dropped (also when the stream
/// is cancelled mid-connect).
struct Opening<'a>(&'a Streams);

impl<'a> Opening<'a> {
    /// `None` when the set is full.
    fn start(streams: &'a Streams) -> Option<Self> {
        let mut set = streams.lock();
        (set.conns.len() + set.opening < MAX).then(|| {
            set.opening += 1;
            Self(streams)
        })
    }

    fn start_anyway(streams: &'a Streams) -> Self {
        streams.lock().opening += 1;
        Self(streams)
    }
}

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        self.0.lock().opening -= 1;
    }
}

/// A new upstream connection, run by a task of its own until its sender is dropped and
/// its last response is done, or the app closes it.
async fn connect(connector: &Connector, target: &Uri) -> Result<Sender, PairedError> {
    let (mut sender, conn) = paired::handshake(connector, target).await?;
    tokio::spawn(async move {
        if let Err(error) = conn.await {
            tracing::debug!(%error, "upstream connection ended with an error");
        }
    });
    sender.ready().await.map_err(PairedError::Request)?;
    Ok(sender)
}
