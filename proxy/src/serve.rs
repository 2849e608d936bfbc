//! Accept loop and per-connection serving: TLS, protocol choice (HTTP/1.1 or HTTP/2),
//! the idle and header-read deadlines, upgrades, and graceful shutdown.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::convert::Infallible;

use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::body::RequestBody;
use crate::conn::ConnCtx;
use crate::conn_clock::{self, ConnClock, Expired, TimedIo};
use crate::gate::Gate;
use crate::h1;
use crate::h2_server::H2Conn;
use crate::paired::Driver;
use crate::replay::Replayed;
use crate::sniff::sniff;
use crate::upgrade;

/// Connection-level limits shared by the traffic listeners.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub idle_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub tls_handshake_timeout: Duration,
    /// HTTP/1.1 connections start on the fast path (`h1`).
    pub h1_fast_path: bool,
}

/// What one listener serves with.
#[derive(Clone)]
pub struct ListenerCtx {
    pub gate: Gate,
    pub limits: Arc<ConnLimits>,
    /// `Some` for HTTPS.
    pub tls: Option<TlsAcceptor>,
    /// The HTTP/1.1 fast path's shared app connections (`h1::Pool`), one for every
    /// listener, as hyper's pool is the `Upstream`'s.
    pub fast_pool: Arc<h1::Pool>,
}

impl std::fmt::Debug for ListenerCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerCtx")
            .field("listener", &self.gate.listener())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Serves `listener` until `shutdown`; each connection runs as a task of `tracker`, which
/// the caller waits on to drain. `slots` bounds served connections across listeners.
pub async fn serve(
    listener: TcpListener,
    ctx: ListenerCtx,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let ctx = Arc::new(ctx);
    let mut accept_errors = AcceptErrors::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // EMFILE and friends: the connections already open are served on;
                    // back off briefly instead of spinning, and log at a rate limit.
                    accept_errors.report(&error);
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
        let span = tracing::debug_span!("conn", listener = ctx.gate.listener().as_str(), %peer);
        tracker.spawn(connection(stream, ctx.clone(), shutdown.clone(), permit).instrument(span));
    }
}

/// Failed accepts, logged at most once per [`AcceptErrors::EVERY`] with the number left
/// unlogged in between: under file-descriptor exhaustion an accept fails 20 times a
/// second, and a log line each would bury everything else.
#[derive(Debug, Default)]
struct AcceptErrors {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    const EVERY: Duration = Duration::from_secs(10);

    fn report(&mut self, error: &std::io::Error) {
        let now = Instant::now();
        if self.last_logged.is_some_and(|t| now < t + Self::EVERY) {
            self.unlogged += 1;
            return;
        }
        tracing::warn!(
            %error,
            since_last_line = self.unlogged,
            "accept failed (out of file descriptors?); open connections are served on, new ones wait"
        );
        self.last_logged = Some(now);
        self.unlogged = 0;
    }
}

async fn connection(
    stream: TcpStream,
    ctx: Arc<ListenerCtx>,
    shutdown: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let metrics = &ctx.gate.state().metrics;
    let listener = ctx.gate.listener();
    metrics.connection_opened(listener);
    let limits = &ctx.limits;
    match &ctx.tls {
        // Boxed for the same reason: TLS state is large, and the plain listener's
        // connections should not pay for it.
        Some(acceptor) => {
            Box::pin(async {
                let handshake =
                    tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream));
                let tls = tokio::select! {
                    done = handshake => done,
                    _ = shutdown.cancelled() => Ok(Err(std::io::ErrorKind::Interrupted.into())),
                };
                match tls {
                    Ok(Ok(tls)) => {
                        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                        serve_io(tls, h2, &ctx, &shutdown).await;
                    }
                    Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                    Err(_) => {
                        metrics.connection_timed_out(listener);
                        tracing::debug!("TLS handshake timed out");
                    }
                }
            })
            .await
        }
        None => {
            // The first byte is an idle wait; the rest of an h2 preface, a request head.
            let sniffed = tokio::select! {
                s = sniff(stream, limits.idle_timeout, limits.header_read_timeout) => s,
                _ = shutdown.cancelled() => Err(std::io::ErrorKind::Interrupted.into()),
            };
            match sniffed {
                Ok((io, h2)) => serve_io(io, h2, &ctx, &shutdown).await,
                Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {
                    metrics.connection_timed_out(listener)
                }
                Err(error) => tracing::debug!(%error, "connection failed before a request"),
            }
        }
    }
    metrics.connection_closed(listener);
}

/// Serves one connection with HTTP/2 or HTTP/1.1 (with upgrades) until it ends, a
/// deadline passes, or shutdown completes its graceful close.
async fn serve_io<I>(io: I, h2: bool, ctx: &ListenerCtx, shutdown: &CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Everything the connection's requests share, built here once.
    let (conn_ctx, mut driver) = ConnCtx::new(h2, ctx.gate.upstream());
    let conn_ctx = Arc::new(conn_ctx);
    let clock = conn_ctx.clock();
    let mut io = TimedIo::new(io, clock.clone());
    let limits = &ctx.limits;
    let ended = if h2 {
        // Boxed: an HTTP/2 connection's state is several times an HTTP/1.1 one's, and
        // inline it would size every connection's task (most are HTTP/1.1 from the ALB).
        Box::pin(async {
            let conn = H2Conn::new(
                io,
                limits.max_header_bytes,
                ctx.gate.clone(),
                conn_ctx.clone(),
            );
            drive(
                conn,
                H2Conn::graceful_shutdown,
                clock,
                &mut driver,
                ctx,
                shutdown,
            )
            .await
        })
        .await
    } else {
        // The fast path first; hyper from the first request it leaves (with the bytes
        // already read), or for everything when it is off.
        let rest = if limits.h1_fast_path {
            let fast = h1::serve(
                &mut io,
                &ctx.gate,
                &ctx.fast_pool,
                &conn_ctx,
                limits.max_header_bytes,
                shutdown,
            );
            let watchdog =
                conn_clock::watch(clock, limits.idle_timeout, limits.header_read_timeout);
            tokio::select! {
                ended = fast => match ended {
                    h1::Ended::Closed => return,
                    h1::Ended::Hyper(rest) => rest,
                },
                expired = watchdog => {
                    timed_out(ctx, expired);
                    return;
                }
            }
        } else {
            Vec::new()
        };
        let io = Replayed::new(rest, io);
        let service = {
            let (gate, conn_ctx) = (ctx.gate.clone(), conn_ctx.clone());
            service_fn(move |req: Request<Incoming>| {
                let (gate, conn_ctx) = (gate.clone(), conn_ctx.clone());
                async move {
                    let req = req.map(RequestBody::new);
                    Ok::<_, Infallible>(gate.handle(req, &conn_ctx).await)
                }
            })
        };
        let mut http = http1::Builder::new();
        http.keep_alive(true)
            // Our own clock keeps the idle and header-read deadlines (see conn_clock).
            .header_read_timeout(None)
            // A client that closes its sending side after its requests still gets their
            // answers (the fast path answers what it has read, too); by default hyper
            // drops the connection at the end of the input, answers in flight included.
            .half_close(true)
            .max_header_size(limits.max_header_bytes);
        let conn = http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        drive(
            conn,
            |c| c.graceful_shutdown(),
            clock,
            &mut driver,
            ctx,
            shutdown,
        )
        .await
    };
    // An upgraded HTTP/1.1 connection ends its HTTP part here; its tunnel runs on in
    // this task, so that it keeps its connection slot and the drain waits for it.
    let Some(slot) = conn_ctx.upgrades().filter(|_| ended) else {
        return;
    };
    // The driver still polls the upstream connection until it hands its stream over.
    let ran = tokio::select! {
        ran = upgrade::run_left(slot) => ran,
        never = &mut driver => match never {},
    };
    match ran {
        Some(Ok((up, down))) => tracing::debug!(up, down, "upgraded connection closed"),
        Some(Err(error)) => tracing::debug!(%error, "upgraded connection failed"),
        None => {}
    }
}

/// Polls `conn` against the connection's deadlines and the shutdown signal. True when the
/// connection ended by itself (closed or upgraded), false when a deadline closed it.
async fn drive<C, E>(
    conn: C,
    graceful: fn(Pin<&mut C>),
    clock: &ConnClock,
    driver: &mut Driver,
    ctx: &ListenerCtx,
    shutdown: &CancellationToken,
) -> bool
where
    C: Future<Output = Result<(), E>>,
    E: Display,
{
    tokio::pin!(conn);
    let limits = &ctx.limits;
    let watchdog = conn_clock::watch(clock, limits.idle_timeout, limits.header_read_timeout);
    tokio::pin!(watchdog);
    let expired = tokio::select! {
        result = conn.as_mut() => { log_end(result); None }
        expired = &mut watchdog => Some(expired),
        never = &mut *driver => match never {},
        _ = shutdown.cancelled() => {
            // Finish the requests in progress (HTTP/1.1: `Connection: close` on the
            // response; HTTP/2: GOAWAY), close at once if idle.
            graceful(conn.as_mut());
            tokio::select! {
                result = conn.as_mut() => { log_end(result); None }
                expired = &mut watchdog => Some(expired),
                never = &mut *driver => match never {},
            }
        }
    };
    let Some(expired) = expired else { return true };
    timed_out(ctx, expired);
    false
}

/// A deadline closes the connection.
fn timed_out(ctx: &ListenerCtx, expired: Expired) {
    ctx.gate
        .state()
        .metrics
        .connection_timed_out(ctx.gate.listener());
    tracing::debug!(
        reason = match expired {
            Expired::Idle => "idle timeout",
            Expired::HeaderRead => "header read timeout",
        },
        "closing connection"
    );
}

fn log_end<E: Display>(result: Result<(), E>) {
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
