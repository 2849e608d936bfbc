//! The edge twin: a local server that plays the front doors and the public ALB's acceptor
//! faithfully enough to test the zero-downtime promise.
//!
//! Each request names its front door by its first path segment (`/rest/…`, `/http/…`,
//! `/cloudfront/…`). The twin adds the header value that door's injector sends *as read
//! back from the emulator* (REST stage variable, HTTP API mapping, CloudFront origin
//! header), evaluates the configured acceptor *as read back from the emulator* (the owned
//! WAF rule's byte-match or OR-of-byte-matches shapes, default action Block; or an ALB
//! listener rule's header condition, compared as an ALB does: case-insensitive, with `*` and
//! `?` wildcards, 403 by default), and forwards to one of the proxies, which reads the
//! secret from the emulator itself.
//!
//! Propagation: a background task reads the emulator every `poll` and keeps a timeline of
//! what each door sends and what the WAF accepts. A door has several edge locations; each
//! adopts each new value at its own random time within `injector_delay` (CloudFront's edges
//! do not switch at once). The WAF adopts each change within `waf_delay`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::world::{Accepted, HEADER, World};

/// The front doors the twin plays, by path prefix.
pub const DOORS: [&str; 3] = ["rest", "http", "cloudfront"];

/// A front door the sync configuration does not know (a second CloudFront distribution):
/// it sends what [`EdgeTwin::set_forgotten`] says, whatever the rotation does.
pub const FORGOTTEN: &str = "forgotten";

/// The header each door's edge adds to origin requests, as the real ones do: CloudFront's
/// `X-Amz-Cf-Id`; for API Gateway, the API id the integration maps (docs/proxy.md, "Edge").
fn edge_header(door: &str) -> (&'static str, &'static str) {
    match door {
        "cloudfront" | FORGOTTEN => ("x-amz-cf-id", "twin-request-id"),
        _ => ("x-amzn-apigateway-api-id", "twin-api"),
    }
}

#[derive(Debug, Clone, Copy)]
pub struct EdgeOptions {
    /// Edge locations per front door.
    pub locations: u64,
    /// Each location adopts a new injector value within this bound.
    pub injector_delay: Duration,
    /// The WAF adopts a rule change within this bound.
    pub waf_delay: Duration,
    /// How often the emulator is read.
    pub poll: Duration,
}

impl Default for EdgeOptions {
    fn default() -> Self {
        Self {
            locations: 4,
            injector_delay: Duration::from_millis(600),
            waf_delay: Duration::from_millis(300),
            poll: Duration::from_millis(100),
        }
    }
}

/// What happened to the requests the twin served.
#[derive(Debug, Default)]
pub struct EdgeStats {
    pub requests: AtomicU64,
    /// Blocked by the WAF rule (403 from the "ALB").
    pub waf_blocked: AtomicU64,
    /// Forwarded to a proxy.
    pub forwarded: AtomicU64,
    /// The proxy could not be reached (502).
    pub bad_gateway: AtomicU64,
    /// Emulator reads that failed (the timeline then keeps its last state).
    pub poll_errors: AtomicU64,
}

/// A value's timeline: when each change was observed, and what it was.
#[derive(Debug)]
struct Timeline<T> {
    changes: Mutex<Vec<(Instant, T)>>,
}

impl<T: Clone + PartialEq> Timeline<T> {
    fn new(first: T) -> Self {
        Self {
            changes: Mutex::new(vec![(Instant::now(), first)]),
        }
    }

    fn observe(&self, value: T) {
        let mut changes = self.changes.lock().unwrap();
        if changes.last().map(|(_, v)| v) != Some(&value) {
            changes.push((Instant::now(), value));
        }
    }

    /// The newest change that `delay(k)` says has reached this place by now.
    fn adopted(&self, delay: impl Fn(usize) -> Duration) -> T {
        let changes = self.changes.lock().unwrap();
        let now = Instant::now();
        for (k, (at, value)) in changes.iter().enumerate().rev() {
            if k == 0 || *at + delay(k) <= now {
                return value.clone();
            }
        }
        unreachable!("the first change is always adopted")
    }
}

#[derive(Debug)]
struct Shared {
    options: EdgeOptions,
    seed: u64,
    /// Per door: the value its injector sends (None: no header).
    doors: [Timeline<Option<String>>; 3],
    /// What the acceptor (the WAF rule or the ALB listener rule) accepts.
    waf: Timeline<Accepted>,
    /// What the forgotten door sends (None: it serves nothing, 404).
    forgotten: Mutex<Option<String>>,
    targets: Mutex<Vec<SocketAddr>>,
    next: AtomicUsize,
    stats: Arc<EdgeStats>,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Shared {
    /// A random delay within `bound`, fixed for (place, change).
    fn delay(&self, place: u64, change: usize, bound: Duration) -> Duration {
        // Fixed keys, mixed with this twin's random seed: the same delay on every look.
        let mut h = std::hash::DefaultHasher::new();
        h.write_u64(self.seed);
        h.write_u64(place);
        h.write_usize(change);
        let millis = bound.as_millis() as u64;
        Duration::from_millis(if millis == 0 { 0 } else { h.finish() % millis })
    }
}

#[derive(Debug)]
pub struct EdgeTwin {
    pub addr: SocketAddr,
    pub stats: Arc<EdgeStats>,
    shared: Arc<Shared>,
}

impl EdgeTwin {
    /// Starts on a free loopback port, forwarding to `targets` (round robin).
    pub async fn start(world: Arc<World>, targets: Vec<SocketAddr>, options: EdgeOptions) -> Self {
        let injected = world.injected().await;
        let accepted = world.accepted().await;
        let stats = Arc::new(EdgeStats::default());
        let shared = Arc::new(Shared {
            options,
            seed: RandomState::new().build_hasher().finish(),
            doors: [
                Timeline::new(injected.rest_stage),
                Timeline::new(injected.http_api),
                Timeline::new(injected.cloudfront),
            ],
            waf: Timeline::new(accepted),
            forgotten: Mutex::new(None),
            targets: Mutex::new(targets),
            next: AtomicUsize::new(0),
            stats: stats.clone(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        tokio::spawn(poll(world, Arc::downgrade(&shared)));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = Arc::downgrade(&shared);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Some(shared) = serving.upgrade() else {
                    return;
                };
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(req, shared.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            stats,
            shared,
        }
    }

    /// Replaces the proxies requests go to (a target taken out, as an ALB deregisters it).
    pub fn set_targets(&self, targets: Vec<SocketAddr>) {
        *self.shared.targets.lock().unwrap() = targets;
    }

    /// Opens (Some) or closes (None) the forgotten door, which sends this value.
    pub fn set_forgotten(&self, value: Option<String>) {
        *self.shared.forgotten.lock().unwrap() = value;
    }

    /// What `door`'s location `location` sends now, and whether the WAF accepts it now.
    pub fn sends(&self, door: usize, location: u64) -> (Option<String>, bool) {
        decide(&self.shared, door, location)
    }

    pub fn url(&self, door: &str) -> String {
        format!("http://{}/{door}", self.addr)
    }
}

/// Reads the emulator every `poll` for as long as the twin lives. A failed read keeps
/// the last state (counted); it never stops the loop.
async fn poll(world: Arc<World>, shared: std::sync::Weak<Shared>) {
    loop {
        let Some(s) = shared.upgrade() else {
            return;
        };
        let w = world.clone();
        // The read-back helpers panic on an emulator error: contain it in a task.
        match tokio::spawn(async move { (w.injected().await, w.accepted().await) }).await {
            Ok((injected, accepted)) => {
                s.doors[0].observe(injected.rest_stage);
                s.doors[1].observe(injected.http_api);
                s.doors[2].observe(injected.cloudfront);
                s.waf.observe(accepted);
            }
            Err(_) => {
                s.stats.poll_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        let pause = s.options.poll;
        drop(s);
        tokio::time::sleep(pause).await;
    }
}

/// The value `door`'s `location` sends now, and whether the WAF (as adopted now) allows it.
fn decide(s: &Shared, door: usize, location: u64) -> (Option<String>, bool) {
    let bound = s.options.injector_delay;
    let value = s.doors[door].adopted(|k| s.delay(door as u64 * 1000 + location, k, bound));
    let accepted = s.waf.adopted(|k| s.delay(u64::MAX, k, s.options.waf_delay));
    let allowed = value.as_ref().is_some_and(|v| accepted.allows(v));
    (value, allowed)
}

async fn handle(
    req: Request<Incoming>,
    s: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    s.stats.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_owned();
    let mut parts = path.splitn(3, '/').skip(1);
    let door_name = parts.next().unwrap_or("");
    let rest = format!("/{}", parts.next().unwrap_or(""));
    let n = s.next.fetch_add(1, Ordering::Relaxed);
    let location = n as u64 % s.options.locations;
    let (value, allowed) = if door_name == FORGOTTEN {
        let Some(value) = s.forgotten.lock().unwrap().clone() else {
            return Ok(answer(
                StatusCode::NOT_FOUND,
                "the forgotten door is closed",
            ));
        };
        let accepted = s.waf.adopted(|k| s.delay(u64::MAX, k, s.options.waf_delay));
        let allowed = accepted.allows(&value);
        (Some(value), allowed)
    } else {
        let Some(door) = DOORS.iter().position(|d| *d == door_name) else {
            return Ok(answer(StatusCode::NOT_FOUND, "no such front door"));
        };
        decide(&s, door, location)
    };
    if !allowed {
        s.stats.waf_blocked.fetch_add(1, Ordering::Relaxed);
        return Ok(answer(StatusCode::FORBIDDEN, "blocked by the WAF twin"));
    }
    let target = {
        let targets = s.targets.lock().unwrap();
        if targets.is_empty() {
            None
        } else {
            Some(targets[n % targets.len()])
        }
    };
    let Some(target) = target else {
        s.stats.bad_gateway.fetch_add(1, Ordering::Relaxed);
        return Ok(answer(StatusCode::BAD_GATEWAY, "no target"));
    };
    let (edge_name, edge_value) = edge_header(door_name);
    let mut forward = Request::get(format!("http://{target}{rest}")).header(edge_name, edge_value);
    if let Some(v) = &value {
        forward = forward.header(HEADER, v);
    }
    s.stats.forwarded.fetch_add(1, Ordering::Relaxed);
    let reply = match s.client.request(forward.body(Empty::new()).unwrap()).await {
        Ok(r) => r,
        Err(_) => {
            s.stats.bad_gateway.fetch_add(1, Ordering::Relaxed);
            return Ok(answer(StatusCode::BAD_GATEWAY, "proxy unreachable"));
        }
    };
    let status = reply.status();
    let body = reply
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(Response::builder()
        .status(status)
        .body(Full::new(body))
        .unwrap())
}

fn answer(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(text.as_bytes())))
        .unwrap()
}
