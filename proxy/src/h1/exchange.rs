//! One forwarded exchange on the fast path: the request (its head from `request`, its body
//! relayed by length) to the app over the connection's own `AppConn`, the response head
//! back through `response`, and its body relayed by its framing.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::forward::{Upstream, UpstreamFailure};

use super::app_conn::AppConn;
use super::app_timer::AppTimer;
use super::buf::Buf;
use super::pool::Pool;
use super::request::Plan;
use super::response::{self, Framing, Parsed};

/// A body up to this size that is already received goes out with its head in one write
/// (and can be sent again if a kept connection turns out closed).
const WITH_HEAD: u64 = 64 * 1024;

/// How an exchange failed.
#[derive(Debug)]
pub(super) enum Failed {
    /// Before any of the response reached the client: it gets a 502 or 504. `body_read`:
    /// the request body was read whole from the client, so its connection can go on.
    Before(UpstreamFailure, bool),
    /// The client went away, or the response broke off after its head was sent: the
    /// client connection ends.
    Abort,
}

/// The connection's buffers and its app connection, which an exchange reads and writes.
pub(super) struct Sides {
    /// What the client sent and the fast path has not used yet.
    pub(super) client_buf: Buf,
    /// The head being written (to the app, then to the client).
    pub(super) out: Vec<u8>,
    /// The client connection's own app connection, from its second keep-alive request.
    pub(super) app: Option<AppConn>,
    /// Keep-alive requests seen (saturating).
    keep_alive_requests: u32,
    pub(super) timer: AppTimer,
}

/// Lengths only: `out` holds a request's head or an answer's.
impl std::fmt::Debug for Sides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sides")
            .field("client_buf", &self.client_buf)
            .field("out", &self.out.len())
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl Sides {
    pub(super) fn new(upstream: &Upstream) -> Self {
        Self {
            client_buf: Buf::default(),
            out: Vec::new(),
            app: None,
            keep_alive_requests: 0,
            timer: AppTimer::new(upstream.timeout().min(upstream.pool_idle_timeout())),
        }
    }

    /// What an idle connection keeps: its buffers back to their first size (a large head
    /// or body grew them), and no memory at all for those that hold nothing.
    pub(super) fn release(&mut self) {
        self.client_buf.release();
        if self.out.capacity() > 2 * Buf::INITIAL {
            self.out = Vec::new();
        }
        if let Some(app) = &mut self.app {
            app.buf.release();
        }
    }
}

/// Forwards the request whose head `sides.out` holds and relays the response. True when
/// the client connection can carry another request; with when the response head was
/// ready to go to the client (what the request duration measures, as on hyper's path).
pub(super) async fn exchange<C>(
    client: &mut C,
    sides: &mut Sides,
    plan: &Plan,
    upstream: &Upstream,
    pool: &Arc<Pool>,
    shutdown: &CancellationToken,
) -> Result<(bool, Instant), Failed>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = Instant::now() + upstream.timeout();
    let length = plan.request.content_length;
    // The body goes with the head when it is all here and small: one write, and the
    // request can be sent again.
    let whole = length <= WITH_HEAD && sides.client_buf.len() as u64 >= length;
    let mut body_left = length;
    if whole {
        let n = length as usize;
        sides.out.extend_from_slice(&sides.client_buf.bytes()[..n]);
        sides.client_buf.consume(n);
        body_left = 0;
    }
    // Which app connection (as on hyper's path, `conn::ConnCtx::route`): the client
    // connection's own from its second keep-alive request, the shared pool's before that
    // and for one-shot requests.
    if !plan.request.close {
        sides.keep_alive_requests = sides.keep_alive_requests.saturating_add(1);
    }
    let own = !plan.request.close && sides.keep_alive_requests >= 2;
    let max_idle = upstream.pool_idle_timeout();
    let (head, mut app) = loop {
        let kept = match own {
            true => sides
                .app
                .take()
                .and_then(|mut app| app.reusable(max_idle).then_some(app)),
            false => pool.take(),
        };
        let mut app = match kept {
            Some(app) => app,
            // Its own timer: opening a connection is rare.
            None => match tokio::time::timeout_at(deadline, AppConn::open(upstream)).await {
                Ok(Ok(app)) => app,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "upstream connect failed");
                    return Err(Failed::Before(UpstreamFailure::Connect, body_left == 0));
                }
                Err(_) => return Err(Failed::Before(UpstreamFailure::Timeout, body_left == 0)),
            },
        };
        let sent = tokio::select! {
            sent = send_and_answer(
                client,
                &mut sides.client_buf,
                &mut sides.out,
                &mut app,
                &mut body_left,
                plan,
                shutdown,
            ) => sent,
            () = sides.timer.until(deadline) => Err(Sent::Timeout),
        };
        match sent {
            Ok(head) => break (head, app),
            // A kept connection the app closed before answering: once more on a new
            // one, if the whole request is still at hand.
            Err(Sent::NoAnswer) if app.reused && whole => continue,
            Err(Sent::NoAnswer | Sent::App | Sent::Unparsable) => {
                return Err(Failed::Before(UpstreamFailure::Other, body_left == 0));
            }
            Err(Sent::Malformed) => {
                return Err(Failed::Before(UpstreamFailure::Malformed, body_left == 0));
            }
            Err(Sent::Client) => return Err(Failed::Abort),
            Err(Sent::Timeout) => {
                // Dropping the connection ends the exchange: the app's late answer
                // cannot be taken for the next request's.
                tracing::debug!(
                    "no response head from the upstream in time; closing its connection"
                );
                return Err(Failed::Before(UpstreamFailure::Timeout, body_left == 0));
            }
        }
    };
    let head_at = Instant::now();
    let relayed = relay_body(client, &mut app, &mut sides.out, head.framing).await;
    if relayed.is_ok() && !head.app_closes {
        app.done();
        match own {
            true => sides.app = Some(app),
            false => pool.put(app),
        }
    }
    relayed.map_err(|_| Failed::Abort)?;
    Ok((!head.client_closes, head_at))
}

/// Why a request did not get a relayable response head.
#[derive(Debug)]
enum Sent {
    /// The app's connection ended before any byte of a response.
    NoAnswer,
    /// It failed after some.
    App,
    /// Its response cannot be relayed (`response`).
    Malformed,
    /// Its response does not parse.
    Unparsable,
    /// No response head by the deadline.
    Timeout,
    /// The client's connection failed while its body was read.
    Client,
}

/// Writes the request (`out`, then any body still to come from the client) and
/// reads the response head; on success the client's head is in `out` and the
/// head's bytes are consumed from the app's buffer.
async fn send_and_answer<C>(
    client: &mut C,
    client_buf: &mut Buf,
    out: &mut Vec<u8>,
    app: &mut AppConn,
    body_left: &mut u64,
    plan: &Plan,
    shutdown: &CancellationToken,
) -> Result<response::Head, Sent>
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let nothing_yet = |e: io::Error| {
        tracing::debug!(error = %e, "upstream connection failed");
        Sent::NoAnswer
    };
    app.io.write_all(out).await.map_err(nothing_yet)?;
    while *body_left > 0 {
        if client_buf.is_empty() {
            match client_buf.fill(client).await {
                Ok(0) | Err(_) => return Err(Sent::Client),
                Ok(_) => {}
            }
        }
        let n = (client_buf.len() as u64).min(*body_left) as usize;
        app.io
            .write_all(&client_buf.bytes()[..n])
            .await
            .map_err(|_| Sent::App)?;
        client_buf.consume(n);
        *body_left -= n as u64;
    }
    let mut received = false;
    loop {
        if !app.buf.is_empty() {
            received = true;
            let close = plan.request.close || shutdown.is_cancelled();
            match response::parse(app.buf.bytes(), plan.head_method, close, out) {
                Parsed::Ready(head) => {
                    app.buf.consume(head.len);
                    return Ok(head);
                }
                Parsed::Interim(n) => {
                    app.buf.consume(n);
                    continue;
                }
                Parsed::Unrelayable => {
                    tracing::debug!("upstream response not relayed");
                    return Err(Sent::Malformed);
                }
                Parsed::Unparsable => {
                    tracing::debug!("upstream response does not parse");
                    return Err(Sent::Unparsable);
                }
                Parsed::Partial => {}
            }
        }
        match app.buf.fill(&mut app.io).await {
            Ok(n) if n > 0 => {}
            Ok(_) | Err(_) if !received => return Err(Sent::NoAnswer),
            _ => return Err(Sent::App),
        }
    }
}

/// Writes the client's head (`out`) and relays the body as `framing` delimits it.
async fn relay_body<C>(
    client: &mut C,
    app: &mut AppConn,
    out: &mut Vec<u8>,
    framing: Framing,
) -> io::Result<()>
where
    C: AsyncWrite + Unpin,
{
    match framing {
        Framing::Empty => client.write_all(out).await,
        Framing::Length(n) => {
            // A body already received and small goes out with the head: one write.
            if n <= WITH_HEAD && app.buf.len() as u64 >= n {
                out.extend_from_slice(&app.buf.bytes()[..n as usize]);
                app.buf.consume(n as usize);
                return client.write_all(out).await;
            }
            client.write_all(out).await?;
            copy(client, app, n).await
        }
        Framing::UntilClose => {
            client.write_all(out).await?;
            copy(client, app, u64::MAX).await
        }
        Framing::Chunked => {
            client.write_all(out).await?;
            chunked(client, app, out).await
        }
    }
}

/// Relays `n` bytes of the app's (or all of them until it closes, for `u64::MAX`).
async fn copy<C: AsyncWrite + Unpin>(
    client: &mut C,
    app: &mut AppConn,
    mut n: u64,
) -> io::Result<()> {
    while n > 0 {
        if app.buf.is_empty() && app.buf.fill(&mut app.io).await? == 0 {
            return match n {
                u64::MAX => Ok(()),
                _ => Err(io::ErrorKind::UnexpectedEof.into()),
            };
        }
        let take = (app.buf.len() as u64).min(n) as usize;
        client.write_all(&app.buf.bytes()[..take]).await?;
        app.buf.consume(take);
        if n != u64::MAX {
            n -= take as u64;
        }
    }
    Ok(())
}

/// The most trailer bytes skipped after a chunked body.
const MAX_TRAILERS: usize = 16 * 1024;

/// Relays a chunked body re-framed: each chunk's data under a plain size line (no
/// extensions), the last chunk, and no trailers (RFC 9112 §7.1). A chunk that does not
/// parse ends both connections: the head has gone, so the client sees a cut body, never
/// bytes of the app's framing.
async fn chunked<C: AsyncWrite + Unpin>(
    client: &mut C,
    app: &mut AppConn,
    line: &mut Vec<u8>,
) -> io::Result<()> {
    let invalid = || io::Error::from(io::ErrorKind::InvalidData);
    loop {
        let (used, size) = loop {
            match httparse::parse_chunk_size(app.buf.bytes()) {
                Ok(httparse::Status::Complete(found)) => break found,
                Ok(httparse::Status::Partial) if app.buf.len() < 4096 => {
                    if app.buf.fill(&mut app.io).await? == 0 {
                        return Err(invalid());
                    }
                }
                _ => return Err(invalid()),
            }
        };
        app.buf.consume(used);
        if size == 0 {
            return trailers(app)
                .await
                .and(client.write_all(b"0\r\n\r\n").await);
        }
        line.clear();
        push_hex(line, size);
        line.extend_from_slice(b"\r\n");
        client.write_all(line).await?;
        copy(client, app, size).await?;
        // The data's CRLF.
        while app.buf.len() < 2 {
            if app.buf.fill(&mut app.io).await? == 0 {
                return Err(invalid());
            }
        }
        if &app.buf.bytes()[..2] != b"\r\n" {
            return Err(invalid());
        }
        app.buf.consume(2);
        client.write_all(b"\r\n").await?;
    }
}

/// Skips the trailer section and its empty line.
async fn trailers(app: &mut AppConn) -> io::Result<()> {
    let mut skipped = 0;
    loop {
        if let Some(end) = app.buf.bytes().windows(2).position(|w| w == b"\r\n") {
            app.buf.consume(end + 2);
            if end == 0 {
                return Ok(());
            }
            skipped += end + 2;
            if skipped > MAX_TRAILERS {
                return Err(io::ErrorKind::InvalidData.into());
            }
            continue;
        }
        if app.buf.len() > MAX_TRAILERS || app.buf.fill(&mut app.io).await? == 0 {
            return Err(io::ErrorKind::InvalidData.into());
        }
    }
}

/// `n` in lower-case hex, without an allocation.
fn push_hex(out: &mut Vec<u8>, n: u64) {
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        out.push(b"0123456789abcdef"[((n >> (i * 4)) & 0xf) as usize]);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_sizes() {
        for n in [0u64, 1, 9, 10, 15, 16, 255, 4096, 0xdead_beef, u64::MAX] {
            let mut out = Vec::new();
            super::push_hex(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{n:x}"));
        }
    }
}
