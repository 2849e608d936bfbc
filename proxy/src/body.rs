//! The body types: the request body forwarded to the app (trailers dropped), and the
//! response body, streamed from the upstream or a fixed answer of the proxy's.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::conn_clock::BusyGuard;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body on its way to the app, without its trailers, and never complete unless
/// the client completed it.
///
/// Trailers are header fields sent after the body (chunked HTTP/1.1, or an HTTP/2 HEADERS
/// frame after DATA). Forwarded, they would carry a client's `x-origin-verify` (or any
/// field) to the app behind the header check's back, on both listeners. The app never
/// receives request trailers; the `Trailer` field announcing them is removed too.
///
/// A body the client abandoned (an HTTP/1.1 connection closed mid-body, an HTTP/2 stream
/// reset before `END_STREAM`, whatever the reset's code) ends in an error, never in a
/// clean end: the upstream client then closes the app connection without the last
/// chunk, so the app never receives a complete request the client did not send.
#[derive(Debug)]
pub struct RequestBody(Source);

#[derive(Debug)]
enum Source {
    /// hyper's HTTP/1.1 body: it already ends in an error when the client's connection
    /// closes before the body's framing says it is over.
    H1(Incoming),
    /// hyper's HTTP/2 server would end a body cleanly on `RST_STREAM(NO_ERROR)` (it reads
    /// that code as "stop sending" from a server), so HTTP/2 is served with `h2` directly
    /// (`h2_server`) and its stream read here. Boxed: inline it would make every request's
    /// body (HTTP/1.1's too, most of them) 32 bytes larger, and the request moves several
    /// times on its way (docs/performance.md, issue 29).
    H2(Box<H2Body>),
}

impl RequestBody {
    pub fn new(body: Incoming) -> Self {
        Self(Source::H1(body))
    }

    /// The body of an HTTP/2 request whose `content-length` (already checked by h2 to be
    /// a number, the same in every field, and to match the DATA received) is `declared`,
    /// asked only if the body is not over already.
    pub fn h2(mut recv: h2::RecvStream, declared: impl FnOnce() -> Option<u64>) -> Self {
        let mut state = H2State::Open;
        if recv.is_end_stream() {
            // True both when the HEADERS frame ended the stream and when the stream was
            // reset before any DATA: one poll tells them apart, without waiting.
            let mut cx = Context::from_waker(std::task::Waker::noop());
            state = match recv.poll_data(&mut cx) {
                Poll::Ready(None) => H2State::Ended,
                _ => H2State::Abandoned,
            };
        }
        let declared_left = match state {
            H2State::Open => declared(),
            _ => None,
        };
        Self(Source::H2(Box::new(H2Body {
            recv,
            declared_left,
            held: None,
            state,
        })))
    }
}

/// An HTTP/2 request body, read with its stream's flow control.
#[derive(Debug)]
struct H2Body {
    recv: h2::RecvStream,
    /// What is left of the declared `content-length`.
    declared_left: Option<u64>,
    /// The chunk that completed a declared length, held until the stream's end is known:
    /// a client may still reset the stream instead of ending it, and the app must not
    /// get a complete body then.
    held: Option<Bytes>,
    state: H2State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum H2State {
    Open,
    Ended,
    Abandoned,
}

/// Why a request body ended without its end.
#[derive(Debug, thiserror::Error)]
#[error("the client abandoned the request body")]
pub struct Abandoned;

impl H2Body {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let body = self;
        loop {
            match body.state {
                H2State::Ended => return Poll::Ready(body.held.take().map(|b| Ok(Frame::data(b)))),
                H2State::Abandoned => return Poll::Ready(Some(Err(Abandoned.into()))),
                H2State::Open => {}
            }
            match std::task::ready!(body.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = body.recv.flow_control().release_capacity(data.len());
                    let left = body
                        .declared_left
                        .map(|l| l.saturating_sub(data.len() as u64));
                    body.declared_left = left;
                    if left == Some(0) && body.held.is_none() {
                        body.held = Some(data);
                        continue;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                // END_STREAM (trailers, if any, are left unread: they are never forwarded).
                None => body.state = H2State::Ended,
                // A reset, whatever its code, or the connection lost.
                Some(Err(_)) => body.state = H2State::Abandoned,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == H2State::Ended && self.held.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (self.state, self.declared_left) {
            (H2State::Abandoned, _) => SizeHint::default(),
            (_, Some(left)) => {
                SizeHint::with_exact(left + self.held.as_ref().map_or(0, |b| b.len() as u64))
            }
            (H2State::Ended, None) => {
                SizeHint::with_exact(self.held.as_ref().map_or(0, |b| b.len() as u64))
            }
            (H2State::Open, None) => SizeHint::default(),
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.0 {
            Source::H1(body) => loop {
                match Pin::new(&mut *body).poll_frame(cx) {
                    // Trailers are the last frame: the next poll ends the body.
                    Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => continue,
                    other => return other.map_err(Into::into),
                }
            },
            Source::H2(stream) => stream.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Source::H1(body) => body.is_end_stream(),
            Source::H2(stream) => stream.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Source::H1(body) => body.size_hint(),
            Source::H2(stream) => stream.size_hint(),
        }
    }
}

/// A response body that also marks the connection busy until it is sent in full.
#[derive(Debug)]
pub struct ProxyBody {
    kind: Kind,
    _busy: Option<BusyGuard>,
}

#[derive(Debug)]
enum Kind {
    Upstream(Incoming),
    Fixed(Option<Bytes>),
}

impl ProxyBody {
    pub fn upstream(body: Incoming, busy: Option<BusyGuard>) -> Self {
        Self {
            kind: Kind::Upstream(body),
            _busy: busy,
        }
    }

    pub fn fixed(text: &'static str, busy: Option<BusyGuard>) -> Self {
        Self {
            kind: Kind::Fixed(Some(Bytes::from_static(text.as_bytes()))),
            _busy: busy,
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.kind {
            Kind::Upstream(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Kind::Fixed(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Upstream(body) => body.is_end_stream(),
            Kind::Fixed(data) => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Upstream(body) => body.size_hint(),
            Kind::Fixed(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
        }
    }
}
