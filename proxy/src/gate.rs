//! The request path: decide, strip, forward, record. One `Gate` per listener; each
//! request comes with its connection's context (`conn::ConnCtx`), and upgrades are
//! `upgrade`'s business.
//!
//! Per request: one `ArcSwap::load` of the accepted snapshot, the constant-time check,
//! relaxed counter updates, and the forward. No lock, no log above debug, no allocation
//! of the proxy's own besides the upstream client's.

use std::sync::Arc;

use http::header::{ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::Body as _;
use tokio::time::Instant;

use crate::auth::Verdict;
use crate::body::{ProxyBody, RequestBody};
use crate::conn::ConnCtx;
use crate::conn_clock::BusyGuard;
use crate::edge::Edge;
use crate::fields::{Fields, HTTP2_SETTINGS};
use crate::forward::{Upstream, UpstreamFailure};
use crate::report::{Refusal, Reporter};
use crate::state::ProxyState;
use crate::upgrade::Pending;

pub use crate::labels::{ListenerKind, Outcome};
use crate::well_formed::{self, Host, Malformed};

const CLOSE: HeaderValue = HeaderValue::from_static("close");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
/// A 405 names what is allowed (RFC 9110 §15.5.6): every method but CONNECT goes on.
const ALLOWED: HeaderValue =
    HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH");

/// What every gate needs to know, parsed once at start.
#[derive(Debug)]
pub struct GateConfig {
    pub header: HeaderName,
    pub health_paths: Vec<String>,
    /// `Some` in report mode: what enforcing would refuse is forwarded and reported here.
    pub report: Option<Arc<Reporter>>,
}

#[derive(Debug, Clone)]
pub struct Gate(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    listener: ListenerKind,
    config: Arc<GateConfig>,
    state: Arc<ProxyState>,
    upstream: Upstream,
}

/// What to do with a request, decided before anything is forwarded.
enum Decision {
    /// With what the walk over its fields found (made only for requests that pass the
    /// check) and the `Host` the app gets.
    Forward(Outcome, Fields, Host),
    Reject,
    Unavailable,
    Malformed(Malformed),
}

impl Gate {
    pub fn new(
        listener: ListenerKind,
        config: Arc<GateConfig>,
        state: Arc<ProxyState>,
        upstream: Upstream,
    ) -> Self {
        Self(Arc::new(Inner {
            listener,
            config,
            state,
            upstream,
        }))
    }

    pub fn listener(&self) -> ListenerKind {
        self.0.listener
    }

    pub fn state(&self) -> &Arc<ProxyState> {
        &self.0.state
    }

    pub fn upstream(&self) -> &Upstream {
        &self.0.upstream
    }

    pub fn config(&self) -> &GateConfig {
        &self.0.config
    }

    /// Handles one request of the connection `conn`: decides, strips, forwards and
    /// records. The connection stays busy until the response body has been sent.
    /// A malformed request's answer carries [`Malformed`] in its extensions (HTTP/2
    /// resets the stream instead of sending it).
    pub async fn handle(
        &self,
        mut req: Request<RequestBody>,
        conn: &ConnCtx,
    ) -> Response<ProxyBody> {
        let start = Instant::now();
        let busy = conn.busy();
        let inner = &self.0;
        let (outcome, response) = match self.decide(&req) {
            Decision::Reject => (
                Outcome::Rejected,
                fixed(StatusCode::FORBIDDEN, FORBIDDEN, busy),
            ),
            Decision::Unavailable => (
                Outcome::Unavailable,
                fixed(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, busy),
            ),
            Decision::Malformed(why) => {
                tracing::debug!(reason = why.as_str(), "malformed request not forwarded");
                let mut response = fixed(why.status(), why.text(), busy);
                if why == Malformed::Connect {
                    response.headers_mut().insert(ALLOW, ALLOWED);
                }
                if req.version() == Version::HTTP_2 {
                    if why.resets_h2_stream() {
                        response.extensions_mut().insert(why);
                    }
                } else {
                    // What follows the head may be a body of unknown framing: the
                    // connection ends after this answer (RFC 9112 §6.3).
                    response.headers_mut().insert(CONNECTION, CLOSE);
                }
                (Outcome::Malformed, response)
            }
            Decision::Forward(outcome, fields, host) => {
                let upgrading = conn
                    .upgrades()
                    .and_then(|_| Pending::take(&mut req, &fields));
                let route = conn.route(fields.keeps_alive(req.version()));
                // The app never sees the secret, whichever way the request came in.
                let headers = req.headers_mut();
                headers.remove(&inner.config.header);
                // With `Trailer`: request trailers are dropped (body::RequestBody).
                fields.remove_request_hop_by_hop(headers);
                if let Some(upgrading) = &upgrading {
                    upgrading.restore(headers);
                }
                let sent = inner.upstream.send(req, host, upgrading.is_some(), route);
                match sent.await {
                    Ok(mut response) => {
                        if let (Some(upgrading), Some(slot)) = (upgrading, conn.upgrades()) {
                            upgrading.complete(&mut response, slot);
                        }
                        (
                            outcome,
                            response.map(|b| ProxyBody::upstream(b, Some(busy))),
                        )
                    }
                    Err(failure) => {
                        inner.state.metrics.upstream_error(failure);
                        (outcome, upstream_failure(failure, busy))
                    }
                }
            }
        };
        inner
            .state
            .metrics
            .request(inner.listener, outcome, start.elapsed());
        response
    }

    fn decide(&self, req: &Request<RequestBody>) -> Decision {
        let inner = &self.0;
        // Everything after the decision reads the request's fields from this one walk
        // over them, which also decides whether it can be forwarded at all; a rejected
        // request is not walked.
        let walk = |outcome| {
            let fields = Fields::scan(req.headers());
            match well_formed::check(req, &fields) {
                Ok(host) => Decision::Forward(outcome, fields, host),
                Err(why) => Decision::Malformed(why),
            }
        };
        if inner.listener == ListenerKind::Internal {
            return walk(Outcome::Bypass);
        }
        let accepted = inner.state.accepted.load();
        let Some(set) = accepted.as_deref() else {
            inner.state.metrics.nothing_loaded();
            // Fail closed: nothing loaded means nothing is accepted, health checks included
            // (an ALB should not route to a task that would reject every request).
            return match &inner.config.report {
                None => Decision::Unavailable,
                Some(reporter) => {
                    let decision = walk(Outcome::Reported);
                    if let Decision::Forward(_, fields, _) = &decision {
                        reporter.forwarded(Refusal::NothingLoaded, req, fields.edge());
                    }
                    decision
                }
            };
        };
        if is_health_check(req, &inner.config.health_paths) {
            return walk(Outcome::Bypass);
        }
        match set.check(req.headers(), &inner.config.header) {
            Verdict::Accepted(value) => {
                let decision = walk(Outcome::Accepted);
                // Only a forwarded request counts as the value in use.
                if let Decision::Forward(_, fields, _) = &decision {
                    value.record_match(fields.edge());
                }
                decision
            }
            Verdict::Rejected(why) => {
                // The edge of a refused request, so that a dashboard shows which front
                // door sends them (one more walk over the fields, on this path only).
                let edge = Edge::of(req.headers());
                inner.state.metrics.rejection(why, edge);
                let Some(reporter) = &inner.config.report else {
                    tracing::debug!(reason = why.as_str(), "request rejected");
                    return Decision::Reject;
                };
                let decision = walk(Outcome::Reported);
                if let Decision::Forward(..) = &decision {
                    reporter.forwarded(Refusal::Rejected(why), req, edge);
                }
                decision
            }
        }
    }
}

/// A health check, let through without the header: GET or HEAD of a health path, with no
/// body and no upgrade. Anything else on a health path (a POST, a body, `Upgrade:
/// websocket` or `h2c` with `HTTP2-Settings`, CONNECT) goes through the header check like
/// any request: a bypass wider than a health check would be a way in.
fn is_health_check(req: &Request<RequestBody>, health_paths: &[String]) -> bool {
    let method = req.method();
    let headers = req.headers();
    (method == Method::GET || method == Method::HEAD)
        && health_paths.iter().any(|p| p == req.uri().path())
        && req.body().is_end_stream()
        && !headers.contains_key(UPGRADE)
        && !headers.contains_key(HTTP2_SETTINGS)
        && !headers.contains_key(TRANSFER_ENCODING)
        && headers
            .get(CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0")
}

fn fixed(status: StatusCode, text: &'static str, busy: BusyGuard) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::fixed(text, Some(busy)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, TEXT);
    response
}

fn upstream_failure(failure: UpstreamFailure, busy: BusyGuard) -> Response<ProxyBody> {
    let (status, text) = failure_answer(failure);
    fixed(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        text,
        busy,
    )
}

/// The answers of the proxy's own, the same on hyper's path and the fast path (`h1`).
pub(crate) const FORBIDDEN: &str = "forbidden\n";
pub(crate) const UNAVAILABLE: &str = "no accepted secret loaded\n";

/// The status and text of the answer to a failed exchange.
pub(crate) fn failure_answer(failure: UpstreamFailure) -> (u16, &'static str) {
    match failure {
        UpstreamFailure::Timeout => (504, "upstream timed out\n"),
        UpstreamFailure::Connect => (502, "upstream unreachable\n"),
        UpstreamFailure::Other => (502, "upstream failed\n"),
        UpstreamFailure::Malformed => (502, "upstream response malformed\n"),
    }
}
