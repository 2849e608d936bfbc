//! The upstream client. A keep-alive HTTP/1.1 client connection forwards over its own
//! upstream connection (`paired`), an HTTP/2 one over its own bounded set of them
//! (`streams`); everything else over a shared pool of keep-alive connections. Hop-by-hop
//! fields are `fields`' business.

use std::time::Duration;

use http::header::{HOST, HeaderValue, TRANSFER_ENCODING};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;

use crate::body::RequestBody;
use crate::connect::{Connector, Target};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::paired::{Paired, PairedError};
use crate::relay;
use crate::streams::Streams;
use crate::well_formed::Host;

const CHUNKED: HeaderValue = HeaderValue::from_static("chunked");

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

    /// What opens connections to the app (the fast path's own: `h1`).
    pub(crate) fn connector(&self) -> &Connector {
        &self.connector
    }

    /// `scheme://authority/`: where connections of our own connect.
    pub(crate) fn target(&self) -> &Uri {
        &self.target
    }

    /// How long an exchange may wait for the app's response head.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long an unused upstream connection is kept, pooled or paired.
    pub fn pool_idle_timeout(&self) -> Duration {
        self.pool_idle_timeout
    }

    /// Sends `req` (already checked and stripped) to the upstream by `route`, with `host`
    /// as its one `Host` (`well_formed::check`); returns its response if it can be
    /// relayed (`relay::prepare`: hop-by-hop fields removed, except the `Upgrade` of a
    /// 101 when `upgrade`).
    pub async fn send(
        &self,
        req: Request<RequestBody>,
        host: Host,
        upgrade: bool,
        route: Route<'_>,
    ) -> Result<Response<Incoming>, UpstreamFailure> {
        let (mut parts, body) = req.into_parts();
        match host {
            Host::Keep => {}
            // Replaces every `host` field: HTTP/2's `:authority`, an absolute form's.
            Host::Set(value) => {
                parts.headers.insert(HOST, value);
            }
            Host::Upstream => {
                if let Ok(value) = HeaderValue::from_str(self.authority.as_str()) {
                    parts.headers.insert(HOST, value);
                }
            }
        }
        if !body.is_end_stream() && body.size_hint().exact().is_none() {
            // A body of unknown length goes chunked whatever the method: unless told,
            // hyper's client sends a GET or HEAD with no body at all, and the app would get
            // a complete request without the body the client is still sending (the
            // request_gate fuzz target found it).
            parts.headers.insert(TRANSFER_ENCODING, CHUNKED);
        }
        parts.version = Version::HTTP_11;
        // A connection of our own takes the origin form, `/path?query` (the pool's
        // client is given the absolute form: `via_pool`).
        let path = parts.uri.path_and_query().cloned();
        parts.uri = Uri::from(path.unwrap_or_else(|| PathAndQuery::from_static("/")));
        let req = Request::from_parts(parts, body);

        let sent = match route {
            Route::Paired(paired) => {
                // Boxed, as the pool's client boxes its own: inline, this state would
                // double the request future that hyper keeps allocated for every client
                // connection, idle ones included (1.7 KB more each).
                // Its deadline is kept by the connection's `Driver` (see `paired`).
                let sending = Box::pin(paired.send(&self.connector, &self.target, req));
                Ok(sending.await.map_err(Failure::from))
            }
            Route::Streams(streams) => {
                tokio::time::timeout(self.timeout, self.via_streams(streams, req)).await
            }
            Route::Pool => tokio::time::timeout(self.timeout, self.via_pool(req)).await,
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
            Ok(Ok(mut response)) => match relay::prepare(&mut response, upgrade) {
                Ok(()) => Ok(response),
                Err(why) => {
                    // Dropped: hyper's client drains its body or closes its connection.
                    tracing::debug!(
                        ?why,
                        status = response.status().as_u16(),
                        "upstream response not relayed"
                    );
                    Err(UpstreamFailure::Malformed)
                }
            },
        }
    }

    /// On one of an HTTP/2 connection's own upstream connections, or through the pool
    /// when all of them are busy.
    async fn via_streams(
        &self,
        streams: &Streams,
        req: Request<RequestBody>,
    ) -> Result<Response<Incoming>, Failure> {
        // Boxed: opening a connection (rare) takes more state than sending on one.
        match Box::pin(streams.send(&self.connector, &self.target, req)).await {
            Ok(sent) => sent.map_err(Failure::from),
            Err(req) => self.via_pool(req).await,
        }
    }

    /// Through the shared pool, whose client picks a connection by the absolute form.
    async fn via_pool(&self, req: Request<RequestBody>) -> Result<Response<Incoming>, Failure> {
        let (mut parts, body) = req.into_parts();
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(self.scheme.clone());
        uri.authority = Some(self.authority.clone());
        uri.path_and_query = parts.uri.path_and_query().cloned();
        parts.uri = Uri::from_parts(uri).map_err(|e| Failure::Other(e.into()))?;
        let req = Request::from_parts(parts, body);
        self.client.request(req).await.map_err(Failure::from)
    }
}

/// Which upstream connection a request goes out on.
#[derive(Debug, Clone, Copy)]
pub enum Route<'a> {
    /// A pooled one: an HTTP/1.1 connection's first or only request (`paired`), and an
    /// HTTP/2 stream when its connection's set is full and busy (`streams`).
    Pool,
    /// The HTTP/1.1 client connection's own.
    Paired(&'a Paired),
    /// One of the HTTP/2 client connection's own set (`streams`).
    Streams(&'a Streams),
}

/// Why forwarding to the upstream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Could not connect (502).
    Connect,
    /// No response head within `--upstream-timeout` (504).
    Timeout,
    /// The connection broke, or hyper could not parse the response (502).
    Other,
    /// The response parsed but cannot be relayed as it is (`relay`): 502.
    Malformed,
}

impl UpstreamFailure {
    pub(crate) const ALL: [Self; 4] = [Self::Connect, Self::Timeout, Self::Other, Self::Malformed];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Other => "other",
            Self::Malformed => "malformed_response",
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
