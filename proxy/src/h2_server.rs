//! HTTP/2 client connections, served with the `h2` crate directly.
//!
//! hyper's HTTP/2 server reads a client's `RST_STREAM(NO_ERROR)` as the clean end of the
//! request body (RFC 9113 §8.1 lets a *server* ask a client to stop sending with it, and
//! hyper applies the rule both ways), so a request the client abandoned mid-body would
//! reach the app complete. Served here, a body's stream is read by `body::RequestBody`,
//! which tells a reset of any code from `END_STREAM`; and a malformed request is reset with
//! `PROTOCOL_ERROR` (RFC 9113 §8.1.1) instead of being answered.
//!
//! Each stream runs as a task of its own, like hyper's: the gate's future, raced against
//! the client's reset of the stream, then the response body piped with the stream's flow
//! control. The connection settings are hyper's defaults, the header list bounded by
//! `--max-header-bytes`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use h2::server::{Connection, Handshake, SendResponse};
use h2::{Reason, RecvStream, SendStream};
use http::header::{CONTENT_LENGTH, DATE, HeaderValue};
use http::{Request, Response};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::body::{ProxyBody, RequestBody};
use crate::conn::ConnCtx;
use crate::gate::Gate;
use crate::well_formed::Malformed;

/// hyper's HTTP/2 server defaults, kept.
const WINDOW: u32 = 1024 * 1024;
const MAX_CONCURRENT_STREAMS: u32 = 200;
const MAX_SEND_BUFFER: usize = 400 * 1024;
const MAX_LOCAL_ERROR_RESETS: usize = 1024;

/// One HTTP/2 connection: the handshake, then accepting streams until the client closes,
/// or after [`H2Conn::graceful_shutdown`], until the streams in progress are done.
pub struct H2Conn<I> {
    state: State<I>,
    gate: Gate,
    conn: Arc<ConnCtx>,
    /// Asked before the handshake completed: applied as soon as it does.
    closing: bool,
}

enum State<I> {
    Handshaking(Handshake<I, Bytes>),
    Serving(Connection<I, Bytes>),
}

impl<I> std::fmt::Debug for H2Conn<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Conn")
            .field("closing", &self.closing)
            .finish_non_exhaustive()
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> H2Conn<I> {
    pub fn new(io: I, max_header_bytes: usize, gate: Gate, conn: Arc<ConnCtx>) -> Self {
        let handshake = h2::server::Builder::new()
            .initial_window_size(WINDOW)
            .initial_connection_window_size(WINDOW)
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .max_send_buffer_size(MAX_SEND_BUFFER)
            .max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
            .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX))
            .handshake(io);
        Self {
            state: State::Handshaking(handshake),
            gate,
            conn,
            closing: false,
        }
    }

    /// Sends GOAWAY: streams in progress finish, no new ones start; the connection then
    /// ends (at once if idle).
    pub fn graceful_shutdown(self: Pin<&mut Self>) {
        let this = self.get_mut();
        this.closing = true;
        if let State::Serving(conn) = &mut this.state {
            conn.graceful_shutdown();
        }
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> Future for H2Conn<I> {
    type Output = Result<(), h2::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Handshaking(handshake) => {
                    let mut conn = ready!(Pin::new(handshake).poll(cx))?;
                    if this.closing {
                        conn.graceful_shutdown();
                    }
                    this.state = State::Serving(conn);
                }
                State::Serving(conn) => match ready!(conn.poll_accept(cx)) {
                    Some(Ok((req, respond))) => {
                        tokio::spawn(stream(req, respond, this.gate.clone(), this.conn.clone()));
                    }
                    Some(Err(e)) => return Poll::Ready(Err(e)),
                    None => return Poll::Ready(Ok(())),
                },
            }
        }
    }
}

/// One stream: the request through the gate, the response back.
async fn stream(
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    gate: Gate,
    conn: Arc<ConnCtx>,
) {
    let (parts, recv) = req.into_parts();
    // h2 has checked that every `content-length` is a number and that they agree, and it
    // resets the stream when the DATA received does not match.
    let declared = || {
        let value = parts.headers.get(CONTENT_LENGTH)?;
        value.to_str().ok()?.parse().ok()
    };
    let body = RequestBody::h2(recv, declared);
    let req = Request::from_parts(parts, body);
    let handled = gate.handle(req, &conn);
    tokio::pin!(handled);
    // A reset while the gate waits for the app drops the exchange (and with it the app
    // connection's request, whose body then ends in an error).
    let response = tokio::select! {
        response = &mut handled => response,
        _ = std::future::poll_fn(|cx| respond.poll_reset(cx)) => return,
    };
    if response.extensions().get::<Malformed>().is_some() {
        // RFC 9113 §8.1.1: a malformed request is a stream error of type PROTOCOL_ERROR.
        respond.send_reset(Reason::PROTOCOL_ERROR);
        return;
    }
    let (mut head, body) = response.into_parts();
    if !head.headers.contains_key(DATE) {
        // As hyper's servers do (RFC 9110 §6.6.1), for the proxy's own answers.
        if let Ok(date) =
            HeaderValue::from_str(&httpdate::fmt_http_date(std::time::SystemTime::now()))
        {
            head.headers.insert(DATE, date);
        }
    }
    let end = body.is_end_stream();
    if !end {
        if let Some(len) = body.size_hint().exact() {
            head.headers
                .entry(CONTENT_LENGTH)
                .or_insert_with(|| len.into());
        }
    }
    let Ok(send) = respond.send_response(Response::from_parts(head, ()), end) else {
        return;
    };
    if !end {
        if let Err(reason) = (Pipe {
            body,
            send,
            held: None,
        })
        .await
        {
            tracing::debug!(?reason, "HTTP/2 response body not sent in full");
        }
    }
}

/// Sends a response body on its stream, within the stream's flow control; ends early
/// when the client resets the stream. A body that fails resets the stream, so the client
/// sees it incomplete.
struct Pipe {
    body: ProxyBody,
    send: SendStream<Bytes>,
    /// A chunk waiting for send capacity, and whether it ends the body.
    held: Option<(Bytes, bool)>,
}

impl Future for Pipe {
    type Output = Result<(), Reason>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            if let Poll::Ready(reset) = this.send.poll_reset(cx) {
                return Poll::Ready(Err(reset.ok().unwrap_or(Reason::CANCEL)));
            }
            if let Some((chunk, end)) = this.held.take() {
                if this.send.capacity() == 0 {
                    match this.send.poll_capacity(cx) {
                        Poll::Pending => {
                            this.held = Some((chunk, end));
                            return Poll::Pending;
                        }
                        Poll::Ready(Some(Ok(_))) => {
                            this.held = Some((chunk, end));
                            continue;
                        }
                        Poll::Ready(_) => return Poll::Ready(Err(Reason::CANCEL)),
                    }
                }
                // h2 queues what exceeds the capacity and sends it as the window opens.
                this.send
                    .send_data(chunk, end)
                    .map_err(|_| Reason::CANCEL)?;
                if end {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(chunk) => {
                        let end = this.body.is_end_stream();
                        if chunk.is_empty() {
                            if end {
                                let _ = this.send.send_data(chunk, true);
                                return Poll::Ready(Ok(()));
                            }
                            continue;
                        }
                        this.send.reserve_capacity(1);
                        this.held = Some((chunk, end));
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            this.send.reserve_capacity(0);
                            let _ = this.send.send_trailers(trailers);
                            return Poll::Ready(Ok(()));
                        }
                    }
                },
                Some(Err(_)) => {
                    this.send.send_reset(Reason::INTERNAL_ERROR);
                    return Poll::Ready(Err(Reason::INTERNAL_ERROR));
                }
                None => {
                    let _ = this.send.send_data(Bytes::new(), true);
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}
