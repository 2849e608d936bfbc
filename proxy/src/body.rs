//! The body types: the request body forwarded to the app (trailers dropped), and the
//! response body, streamed from the upstream or a fixed answer of the proxy's.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::conn_clock::BusyGuard;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body on its way to the app, without its trailers.
///
/// Trailers are header fields sent after the body (chunked HTTP/1.1, or an HTTP/2 HEADERS
/// frame after DATA). Forwarded, they would carry a client's `x-origin-verify` (or any
/// field) to the app behind the header check's back, on both listeners. The app never
/// receives request trailers; the `Trailer` field announcing them is removed too.
#[derive(Debug)]
pub struct RequestBody(Incoming);

impl RequestBody {
    pub fn new(body: Incoming) -> Self {
        Self(body)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        loop {
            match Pin::new(&mut self.0).poll_frame(cx) {
                // Trailers are the last frame: the next poll ends the body.
                Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => continue,
                other => return other,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
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
