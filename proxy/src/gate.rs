//! The request path: decide, strip, forward. One `Gate` per listener.
//!
//! Per request: one `ArcSwap::load` of the accepted snapshot, the constant-time check,
//! relaxed counter updates, and the forward. No lock, no log above debug, no allocation
//! of the proxy's own besides the upstream client's.

use std::convert::Infallible;
use std::sync::Arc;

use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::time::Instant;

use crate::auth::Verdict;
use crate::body::ProxyBody;
use crate::conn_clock::BusyGuard;
use crate::forward::{Upstream, remove_hop_by_hop};
use crate::metrics::{Listener, Outcome, UpstreamFailure};
use crate::paired::{Paired, keeps_alive};
use crate::state::Shared;
use crate::upgrade::{self, Tunnel};

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// What every gate needs to know, parsed once at start.
#[derive(Debug)]
pub struct GateConfig {
    pub header: HeaderName,
    pub health_paths: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Gate(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    listener: Listener,
    config: Arc<GateConfig>,
    shared: Arc<Shared>,
    upstream: Upstream,
}

/// What to do with a request, decided before anything is forwarded.
enum Decision {
    Forward(Outcome),
    Reject,
    Unavailable,
}

impl Gate {
    pub fn new(
        listener: Listener,
        config: Arc<GateConfig>,
        shared: Arc<Shared>,
        upstream: Upstream,
    ) -> Self {
        Self(Arc::new(Inner {
            listener,
            config,
            shared,
            upstream,
        }))
    }

    pub fn listener(&self) -> Listener {
        self.0.listener
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.0.shared
    }

    pub fn upstream(&self) -> &Upstream {
        &self.0.upstream
    }

    /// Handles one request; `busy` keeps the connection's idle clock stopped until the
    /// response body has been sent; `tunnels` (HTTP/1.1 only) receives an upgraded
    /// exchange for the connection task to run.
    pub async fn handle(
        &self,
        mut req: Request<Incoming>,
        busy: BusyGuard,
        tunnels: Option<upgrade::Slot>,
        paired: Option<&Paired>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let start = Instant::now();
        let inner = &self.0;
        let (outcome, response) = match self.decide(&req) {
            Decision::Reject => (
                Outcome::Rejected,
                fixed(StatusCode::FORBIDDEN, "forbidden\n", busy),
            ),
            Decision::Unavailable => (
                Outcome::Unavailable,
                fixed(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no accepted secret loaded\n",
                    busy,
                ),
            ),
            Decision::Forward(outcome) => {
                let protocol = tunnels
                    .as_ref()
                    .and_then(|_| upgrade::requested(req.headers()));
                let client_side = protocol.as_ref().map(|_| hyper::upgrade::on(&mut req));
                // A one-shot request, or a connection's first, borrows a pooled one.
                let paired = paired.filter(|p| keeps_alive(&req) && p.claim());
                // The app never sees the secret, whichever way the request came in.
                let headers = req.headers_mut();
                headers.remove(&inner.config.header);
                remove_hop_by_hop(headers);
                if let Some(protocol) = &protocol {
                    upgrade::restore(headers, protocol.clone());
                }
                match inner.upstream.send(req, protocol.is_some(), paired).await {
                    Ok(mut response) => {
                        if let (Some(client), Some(slot)) = (client_side, &tunnels) {
                            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                                let upstream = hyper::upgrade::on(&mut response);
                                *slot.lock().unwrap_or_else(|e| e.into_inner()) =
                                    Some(Tunnel { client, upstream });
                            }
                        }
                        (
                            outcome,
                            response.map(|b| ProxyBody::upstream(b, Some(busy))),
                        )
                    }
                    Err(failure) => {
                        inner.shared.metrics.upstream_error(failure);
                        (outcome, upstream_failure(failure, busy))
                    }
                }
            }
        };
        inner
            .shared
            .metrics
            .request(inner.listener, outcome, start.elapsed());
        Ok(response)
    }

    fn decide(&self, req: &Request<Incoming>) -> Decision {
        let inner = &self.0;
        if inner.listener == Listener::Internal {
            return Decision::Forward(Outcome::Bypass);
        }
        let accepted = inner.shared.accepted.load();
        let Some(set) = accepted.as_deref() else {
            // Fail closed: nothing loaded means nothing is accepted, health checks included
            // (an ALB should not route to a task that would reject every request).
            return Decision::Unavailable;
        };
        let path = req.uri().path();
        if inner.config.health_paths.iter().any(|p| p == path) {
            return Decision::Forward(Outcome::Bypass);
        }
        match set.check(req.headers(), &inner.config.header) {
            Verdict::Accepted(value) => {
                value.record_match();
                Decision::Forward(Outcome::Accepted)
            }
            Verdict::Rejected(why) => {
                inner.shared.metrics.rejection(why);
                tracing::debug!(reason = why.as_str(), "request rejected");
                Decision::Reject
            }
        }
    }
}

fn fixed(status: StatusCode, text: &'static str, busy: BusyGuard) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::fixed(text, Some(busy)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, TEXT);
    response
}

fn upstream_failure(failure: UpstreamFailure, busy: BusyGuard) -> Response<ProxyBody> {
    match failure {
        UpstreamFailure::Timeout => {
            fixed(StatusCode::GATEWAY_TIMEOUT, "upstream timed out\n", busy)
        }
        UpstreamFailure::Connect => fixed(StatusCode::BAD_GATEWAY, "upstream unreachable\n", busy),
        UpstreamFailure::Other => fixed(StatusCode::BAD_GATEWAY, "upstream failed\n", busy),
    }
}
