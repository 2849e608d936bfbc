//! Accept loop and per-connection serving, with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::conn_clock::{self, BusyGuard, ConnClock, Expired, TimedIo};
use crate::gate::Gate;

/// Connection-level limits shared by the traffic listeners.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub idle_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
}

/// Serves `listener` until `shutdown`; each connection runs as a task of `tracker`, which
/// the caller waits on to drain. `slots` bounds served connections across listeners.
pub async fn serve(
    listener: TcpListener,
    gate: Gate,
    limits: Arc<ConnLimits>,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let http = builder(&limits);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        // At the limit, this connection waits here unserved and the loop stops
        // accepting, so further ones wait in the kernel's backlog. (Taking the slot
        // before `accept` would let an idle listener hold a slot the busy one needs.)
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = shutdown.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        let span = tracing::debug_span!("conn", listener = gate.listener().as_str(), %peer);
        let conn = connection(
            stream,
            gate.clone(),
            http.clone(),
            limits.clone(),
            shutdown.clone(),
            permit,
        );
        tracker.spawn(conn.instrument(span));
    }
}

fn builder(limits: &ConnLimits) -> http1::Builder {
    let mut http = http1::Builder::new();
    http.keep_alive(true)
        // Our own clock keeps the idle and header-read deadlines (see conn_clock).
        .header_read_timeout(None)
        .max_header_size(limits.max_header_bytes);
    http
}

async fn connection(
    stream: TcpStream,
    gate: Gate,
    http: http1::Builder,
    limits: Arc<ConnLimits>,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let metrics = &gate.shared().metrics;
    metrics.connection_opened(gate.listener());
    let clock = Arc::new(ConnClock::default());
    let io = TokioIo::new(TimedIo::new(stream, clock.clone()));
    let service = {
        let clock = clock.clone();
        let gate = gate.clone();
        service_fn(move |req| {
            let busy = BusyGuard::new(&clock);
            let gate = gate.clone();
            async move { gate.handle(req, busy).await }
        })
    };
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let watchdog = conn_clock::watch(&clock, limits.idle_timeout, limits.header_read_timeout);
    tokio::pin!(watchdog);

    let expired = tokio::select! {
        result = conn.as_mut() => { log_end(result); None }
        expired = &mut watchdog => Some(expired),
        _ = shutdown.cancelled() => {
            // Finish the request in progress (its response says `Connection: close`),
            // close at once if idle.
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                result = conn.as_mut() => { log_end(result); None }
                expired = &mut watchdog => Some(expired),
            }
        }
    };
    if let Some(expired) = expired {
        metrics.connection_timed_out(gate.listener());
        tracing::debug!(
            reason = match expired {
                Expired::Idle => "idle timeout",
                Expired::HeaderRead => "header read timeout",
            },
            "closing connection"
        );
    }
    metrics.connection_closed(gate.listener());
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Binds a listener, naming the listener and address in the error.
pub async fn bind(name: &'static str, addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { name, addr, source })
}

#[derive(Debug, thiserror::Error)]
#[error("cannot bind the {name} listener to {addr}: {source}")]
pub struct BindError {
    pub name: &'static str,
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}
