//! The upstream client and hop-by-hop handling. A keep-alive HTTP/1.1 client connection
//! forwards over its own upstream connection (`paired`); everything else over a shared
//! pool of keep-alive connections.

use std::time::Duration;

use http::header::{
    CONNECTION, HOST, HeaderName, HeaderValue, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;

use crate::body::RequestBody;
use crate::connect::{Connector, Target};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::paired::{Paired, PairedError};

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
/// Connection-specific (RFC 9113 §3.2.1 of its h2c upgrade): never forwarded.
const HTTP2_SETTINGS: HeaderName = HeaderName::from_static("http2-settings");

/// Settings of the upstream client.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub scheme: Scheme,
    pub authority: Authority,
    /// Where connections go: the authority over TCP, or a Unix socket.
    pub target: Target,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub pool_idle_timeout: Duration,
}

/// The app container, reached over HTTP/1.1 keep-alive connections (TCP or a Unix socket).
#[derive(Debug, Clone)]
pub struct Upstream {
    client: Client<Connector, RequestBody>,
    connector: Connector,
    /// `scheme://authority/`: where paired connections connect.
    target: Uri,
    scheme: Scheme,
    authority: Authority,
    timeout: Duration,
    pool_idle_timeout: Duration,
}

impl Upstream {
    #[expect(
        clippy::expect_used,
        reason = "a scheme and an authority always make a URI"
    )]
    pub fn new(config: &UpstreamConfig) -> Self {
        let connector = Connector::new(&config.target, config.connect_timeout);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            // Shorter than common app keep-alive timeouts (Node 5 s), so the pool rarely
            // reuses a connection the app is closing.
            .pool_idle_timeout(config.pool_idle_timeout)
            .build(connector.clone());
        let target = Uri::builder()
            .scheme(config.scheme.clone())
            .authority(config.authority.clone())
            .path_and_query("/")
            .build()
            .expect("a scheme and an authority make a URI");
        Self {
            client,
            connector,
            target,
            scheme: config.scheme.clone(),
            authority: config.authority.clone(),
            timeout: config.timeout,
            pool_idle_timeout: config.pool_idle_timeout,
        }
    }

    /// How long an exchange may wait for the app's response head.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long an unused upstream connection is kept, pooled or paired.
    pub fn pool_idle_timeout(&self) -> Duration {
        self.pool_idle_timeout
    }

    /// Sends `req` (already checked and stripped) to the upstream, over `paired` when
    /// given, else through the pool; returns its response with hop-by-hop fields
    /// removed, except the `Upgrade` of a 101 when `upgrade`.
    pub async fn send(
        &self,
        req: Request<RequestBody>,
        upgrade: bool,
        paired: Option<&Paired>,
    ) -> Result<Response<Incoming>, UpstreamFailure> {
        let (mut parts, body) = req.into_parts();
        if !parts.headers.contains_key(HOST) {
            // HTTP/2 carries the host as `:authority`; the app (over HTTP/1.1) wants `Host`.
            // Failing that, the upstream's own authority, as the pool's client would send.
            let authority = parts.uri.authority().unwrap_or(&self.authority).as_str();
            if let Ok(host) = HeaderValue::from_str(authority) {
                parts.headers.insert(HOST, host);
            }
        }
        parts.version = Version::HTTP_11;
        let path = parts.uri.path_and_query().cloned();
        let path = path.unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));

        let sent = match paired {
            // A connection of our own takes the origin form, `/path?query`.
            Some(paired) => {
                parts.uri = Uri::from(path);
                let req = Request::from_parts(parts, body);
                // Boxed, as the pool's client boxes its own: inline, this state would
                // double the request future that hyper keeps allocated for every client
                // connection, idle ones included (1.7 KB more each).
                // Its deadline is kept by the connection's `Driver` (see `paired`).
                let sending = Box::pin(paired.send(&self.connector, &self.target, req));
                Ok(sending.await.map_err(Failure::from))
            }
            // The pool's client picks a connection by the absolute form.
            None => {
                let mut uri = http::uri::Parts::default();
                uri.scheme = Some(self.scheme.clone());
                uri.authority = Some(self.authority.clone());
                uri.path_and_query = Some(path);
                parts.uri = Uri::from_parts(uri).map_err(|_| UpstreamFailure::Other)?;
                let req = Request::from_parts(parts, body);
                let sending = self.client.request(req);
                tokio::time::timeout(self.timeout, sending)
                    .await
                    .map(|r| r.map_err(Failure::from))
            }
        };
        match sent {
            Err(_) | Ok(Err(Failure::Timeout)) => Err(UpstreamFailure::Timeout),
            Ok(Err(Failure::Connect(e))) => {
                tracing::debug!(error = %e, "upstream connect failed");
                Err(UpstreamFailure::Connect)
            }
            Ok(Err(Failure::Other(e))) => {
                tracing::debug!(error = %e, "upstream request failed");
                Err(UpstreamFailure::Other)
            }
            Ok(Ok(mut response)) => {
                crate::upgrade::strip_response(&mut response, upgrade);
                Ok(response)
            }
        }
    }
}

/// Why forwarding to the upstream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Could not connect (502).
    Connect,
    /// No response head within `--upstream-timeout` (504).
    Timeout,
    /// The connection broke or the response was malformed (502).
    Other,
}

impl UpstreamFailure {
    pub(crate) const ALL: [Self; 3] = [Self::Connect, Self::Timeout, Self::Other];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }
}

/// A failed exchange, from either path, by what the caller reports.
enum Failure {
    Connect(Box<dyn std::error::Error + Send + Sync>),
    Timeout,
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl From<hyper_util::client::legacy::Error> for Failure {
    fn from(e: hyper_util::client::legacy::Error) -> Self {
        if e.is_connect() {
            Failure::Connect(e.into())
        } else {
            Failure::Other(e.into())
        }
    }
}

impl From<PairedError> for Failure {
    fn from(e: PairedError) -> Self {
        match e {
            PairedError::Connect(e) => Failure::Connect(e),
            PairedError::Request(e) => Failure::Other(e.into()),
            PairedError::Timeout => Failure::Timeout,
        }
    }
}

/// The fields that describe one connection, not the message (RFC 9110 §7.6.1), with the
/// legacy `Keep-Alive` and `Proxy-Connection` and h2c's `HTTP2-Settings`; then, for
/// requests only, `Trailer` (request trailers are dropped: `body::RequestBody`).
/// `Connection` first: it also names others.
const HOP_BY_HOP: [HeaderName; 8] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    HTTP2_SETTINGS,
    TE,
    TRANSFER_ENCODING,
    UPGRADE,
    TRAILER,
];

/// Removes the fields that describe one connection, not the message (RFC 9110 §7.6.1):
/// those named by `Connection`, then the fixed list.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    remove_listed(headers, &HOP_BY_HOP[..7]);
}

/// [`remove_hop_by_hop`] for a request, which also loses `Trailer`: nothing announces the
/// trailers that are not forwarded.
pub fn remove_request_hop_by_hop(headers: &mut HeaderMap) {
    remove_listed(headers, &HOP_BY_HOP);
}

/// One pass over the message's fields finds which of `listed` are present, and whether a
/// `Connection` value names anything besides `keep-alive` / `close`; only what is there is
/// then removed. A removal is a hashed lookup, and most messages carry none of these, or
/// only `Connection: keep-alive`: a lookup per listed field, twice per request, was 7 % of
/// the proxy's instructions per forwarded request (`benches/load/instructions.py`).
fn remove_listed(headers: &mut HeaderMap, listed: &[HeaderName]) {
    let mut present = 0u16;
    let mut names_fields = false;
    for (name, value) in headers.iter() {
        for (i, hop) in listed.iter().enumerate() {
            if name == hop {
                present |= 1 << i;
            }
        }
        if name == CONNECTION {
            let v = value.as_bytes();
            names_fields |=
                !v.eq_ignore_ascii_case(b"keep-alive") && !v.eq_ignore_ascii_case(b"close");
        }
    }
    if present == 0 {
        return;
    }
    if names_fields {
        // Collect first: the names borrow `headers`, which is then changed.
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|n| !n.eq_ignore_ascii_case("keep-alive") && !n.eq_ignore_ascii_case("close"))
            .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for (i, hop) in listed.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(hop);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn hop_by_hop_fields_go_and_end_to_end_fields_stay() {
        let mut h = HeaderMap::new();
        h.insert(
            CONNECTION,
            HeaderValue::from_static("keep-alive, x-trace-hop"),
        );
        h.insert("x-trace-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(TE, HeaderValue::from_static("trailers"));
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        remove_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-forwarded-for", "x-forwarded-proto"]);
    }

    #[test]
    fn every_listed_field_goes_in_any_case_with_all_its_values_and_nothing_else() {
        let mut h = HeaderMap::new();
        // Each listed field, one twice; names are case-insensitive (parsed lower-case).
        for name in [
            "Keep-Alive",
            "Proxy-Connection",
            "HTTP2-Settings",
            "TE",
            "Transfer-Encoding",
            "Upgrade",
            "upgrade",
        ] {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("x"),
            );
        }
        h.insert("x-keep", HeaderValue::from_static("1"));
        h.insert("keep-alives", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["keep-alives", "x-keep"]);

        // A message without any is left as it was.
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("a"));
        let before = h.clone();
        remove_hop_by_hop(&mut h);
        assert_eq!(h, before);

        // `Trailer` goes from requests only.
        let mut h = HeaderMap::new();
        h.insert(TRAILER, HeaderValue::from_static("x-origin-verify"));
        remove_hop_by_hop(&mut h);
        assert!(h.contains_key(TRAILER));
        remove_request_hop_by_hop(&mut h);
        assert!(h.is_empty());

        // `Connection: keep-alive` (or `close`, in any case) names nothing else.
        let mut h = HeaderMap::new();
        h.append(CONNECTION, HeaderValue::from_static("Keep-Alive"));
        h.append(CONNECTION, HeaderValue::from_static("CLOSE"));
        h.insert("keep", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["keep"]);

        // `Connection` alone names fields, in any of its values.
        let mut h = HeaderMap::new();
        h.append(CONNECTION, HeaderValue::from_static("close"));
        h.append(CONNECTION, HeaderValue::from_static("X-A , x-b"));
        for name in ["x-a", "x-b", "x-c"] {
            h.insert(name, HeaderValue::from_static("1"));
        }
        remove_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-c"]);
    }
}
