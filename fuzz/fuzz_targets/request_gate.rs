//! The request gate end to end: arbitrary bytes into a served connection of the proxy's
//! enforcing listener (the binary's own serving code: sniffing, HTTP/1.1 or h2c, the check,
//! the strip, forwarding) in front of an upstream that records what reaches it. Invariants:
//! - the secret never reaches the upstream: no `x-origin-verify` field, no trailers at
//!   all (request trailers are dropped), and a field whose value is the secret only under a
//!   name the client itself sent (a client may put the secret anywhere it likes: the proxy
//!   must not copy it anywhere);
//! - nothing reaches the upstream without the secret in the input, except a GET or HEAD of
//!   the health path;
//! - every request that reaches it has exactly one `Host`, and (over HTTP/1.1, whose bytes
//!   the oracle can read) that value is in the input: the client's `Host`, or the
//!   authority of an absolute-form target; never CONNECT;
//! - over HTTP/1.1, the upstream never receives more complete requests than the input
//!   holds: a request the client did not finish (the input ends mid-body) is never
//!   completed (`complete_requests`, a plain reading of RFC 9112 §6.3 with httparse).
#![no_main]

#[path = "common/proxy_stage.rs"]
mod proxy_stage;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use http::{HeaderMap, HeaderName, Method};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use libfuzzer_sys::fuzz_target;
use proxy_stage::SECRET;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

const HEADER: HeaderName = HeaderName::from_static("x-origin-verify");

/// What the upstream saw of one request.
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    trailers: Option<HeaderMap>,
    /// The body arrived whole (by its framing) rather than cut off.
    complete: bool,
}

struct Stage {
    runtime: Runtime,
    proxy: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Upstream connections accepted and not yet closed.
    open: Arc<AtomicUsize>,
    upstream: SocketAddr,
    /// The harness's own connection to the upstream, which marks the end of an input.
    sentinel: Arc<Mutex<Option<SocketAddr>>>,
    /// Told when the sentinel is accepted and when an upstream connection ends.
    changed: Arc<Notify>,
}

static STAGE: LazyLock<Stage> = LazyLock::new(|| {
    let runtime = proxy_stage::runtime();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let open: Arc<AtomicUsize> = Arc::default();
    let sentinel: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
    let changed: Arc<Notify> = Arc::default();
    let (proxy, upstream) = runtime.block_on(start(
        seen.clone(),
        open.clone(),
        sentinel.clone(),
        changed.clone(),
    ));
    Stage {
        runtime,
        proxy,
        seen,
        open,
        upstream,
        sentinel,
        changed,
    }
});

/// A request of one input must not be recorded during the next (and blamed on it). When
/// an input's connection to the proxy is over, the upstream connections it caused are
/// established (loopback connects complete in the call) but may still wait in the
/// listener's queue, or be mid-request. So the harness then connects itself (the
/// sentinel): the queue is first in, first out, so once the sentinel is accepted every
/// earlier connection has been. And the upstream answers every request with
/// `Connection: close`, so each of those connections ends after its one request: the
/// harness waits for none to be open.
async fn start(
    seen: Arc<Mutex<Vec<Seen>>>,
    open: Arc<AtomicUsize>,
    sentinel: Arc<Mutex<Option<SocketAddr>>>,
    changed: Arc<Notify>,
) -> (SocketAddr, SocketAddr) {
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, peer)) = upstream.accept().await {
            {
                let mut s = sentinel.lock().unwrap();
                if *s == Some(peer) {
                    *s = None;
                    changed.notify_waiters();
                    continue;
                }
            }
            let seen = seen.clone();
            let open = open.clone();
            let changed = changed.clone();
            open.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let collected = body.collect().await.ok();
                        seen.lock().unwrap().push(Seen {
                            method: parts.method,
                            path: parts.uri.path().to_owned(),
                            headers: parts.headers,
                            complete: collected.is_some(),
                            trailers: collected.and_then(|c| c.trailers().cloned()),
                        });
                        let mut response =
                            http::Response::new(Full::new(Bytes::from_static(b"ok")));
                        response.headers_mut().insert(
                            http::header::CONNECTION,
                            http::HeaderValue::from_static("close"),
                        );
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
                open.fetch_sub(1, Ordering::SeqCst);
                changed.notify_waiters();
            });
        }
    });
    // Built and served as the binary's own (`app::Stack`), with short limits so that an
    // input that stalls costs little.
    let upstream_url = format!("http://{upstream_addr}");
    let addr = proxy_stage::serve(
        &upstream_url,
        &[
            "--header",
            HEADER.as_str(),
            "--health-path",
            "/healthz",
            "--upstream-connect-timeout",
            "1s",
            "--upstream-timeout",
            "2s",
            "--upstream-pool-idle-timeout",
            "4s",
            "--idle-timeout",
            "2s",
            "--header-read-timeout",
            "500ms",
            "--max-header-bytes",
            "16384",
            "--tls-handshake-timeout",
            "1s",
            "--max-connections",
            "256",
        ],
    )
    .await;
    (addr, upstream_addr)
}

/// Connects the harness's sentinel to the upstream, its address recorded before the connect
/// so that the accept loop knows it. The port is chosen by `bind` (the address must be known
/// before the connect), and `bind` cannot take a port that a TIME_WAIT socket holds (as
/// `connect` may, for another destination): the input connections the harness closes first
/// leave one each, and 20,000 inputs in under a minute nearly fill the ephemeral range (a
/// CI run failed so). So the sentinel binds 127.0.0.2, whose ports no input connection
/// holds, and closes with a reset (linger 0: no TIME_WAIT of its own); a failed attempt is
/// retried, bounded, with a fresh socket.
async fn connect_sentinel(stage: &Stage) -> TcpStream {
    let mut last = None;
    for _ in 0..50 {
        let attempt = async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.set_zero_linger()?;
            socket.bind("127.0.0.2:0".parse().unwrap())?;
            *stage.sentinel.lock().unwrap() = Some(socket.local_addr()?);
            socket.connect(stage.upstream).await
        };
        match attempt.await {
            Ok(stream) => return stream,
            Err(e) => {
                *stage.sentinel.lock().unwrap() = None;
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    panic!("the sentinel cannot connect to the upstream: {last:?}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    let stage = &*STAGE;
    stage.seen.lock().unwrap().clear();
    stage.runtime.block_on(async {
        let Ok(mut stream) = TcpStream::connect(stage.proxy).await else {
            return;
        };
        let _ = stream.write_all(data).await;
        let _ = stream.shutdown().await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut sink)).await;
        // The proxy has closed this connection (or the read timed out): wait, bounded, for
        // the upstream connections it caused to be accepted (the sentinel's turn) and over.
        let _sentinel = connect_sentinel(stage).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            // Enabled before the check, so that a change between the two is not missed.
            let changed = stage.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if stage.sentinel.lock().unwrap().is_none() && stage.open.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                break;
            }
        }
    });
    let with_secret = contains(data, SECRET.as_bytes());
    let lowered = data.to_ascii_lowercase();
    // HPACK may Huffman-code a field name, so over HTTP/2 the name need not appear as is.
    let h2 = data.starts_with(b"PRI * HTTP/2.0");
    for s in stage.seen.lock().unwrap().iter() {
        assert!(
            s.trailers.is_none(),
            "request trailers reached the upstream"
        );
        for (name, value) in &s.headers {
            assert_ne!(name, HEADER, "the header reached the upstream");
            if value.as_bytes() == SECRET.as_bytes() {
                assert!(
                    h2 || contains(&lowered, name.as_str().as_bytes()),
                    "the secret reached the upstream in {name}, a field the client did not send"
                );
            }
        }
        assert_ne!(s.method, Method::CONNECT, "a CONNECT reached the upstream");
        let hosts: Vec<_> = s.headers.get_all(http::header::HOST).iter().collect();
        assert_eq!(hosts.len(), 1, "{} {} reached the upstream with {} Host fields", s.method, s.path, hosts.len());
        if !h2 {
            assert!(
                hosts[0].is_empty() || contains(data, hosts[0].as_bytes()) || hosts[0].as_bytes() == stage.upstream.to_string().as_bytes(),
                "a Host the client did not send: {:?}",
                hosts[0]
            );
        }
        let health = (s.method == Method::GET || s.method == Method::HEAD) && s.path == "/healthz";
        assert!(
            with_secret || health,
            "{} {} reached the upstream without the secret in the input",
            s.method,
            s.path
        );
    }
    if !h2 {
        if let Some(most) = complete_requests(data) {
            let completed = stage.seen.lock().unwrap().iter().filter(|s| s.complete).count();
            assert!(
                completed <= most,
                "the upstream completed {completed} requests; the input holds at most {most}"
            );
        }
    }
});

/// How many requests of `data` (HTTP/1.1 on one connection) are complete, head and body
/// (RFC 9112 §6.3: `Transfer-Encoding: chunked`, else `Content-Length`, else none).
/// `None` when the bytes hold something this plain reading does not follow (a head
/// httparse refuses, two lengths, a coding besides `chunked`): the proxy refuses those.
fn complete_requests(mut data: &[u8]) -> Option<usize> {
    let mut complete = 0;
    loop {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut fields);
        let head = match req.parse(data) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Some(complete),
            Err(_) => return None,
        };
        let mut length = None;
        let mut chunked = false;
        for f in req.headers.iter() {
            if f.name.eq_ignore_ascii_case("content-length") {
                let n: usize = std::str::from_utf8(f.value).ok()?.trim().parse().ok()?;
                if length.is_some_and(|l| l != n) {
                    return None;
                }
                length = Some(n);
            } else if f.name.eq_ignore_ascii_case("transfer-encoding") {
                if !f.value.trim_ascii().eq_ignore_ascii_case(b"chunked") || chunked {
                    return None;
                }
                chunked = true;
            }
        }
        data = &data[head..];
        let body = if chunked {
            match chunked_length(data)? {
                Some(n) => n,
                None => return Some(complete),
            }
        } else {
            let n = length.unwrap_or(0);
            if data.len() < n {
                return Some(complete);
            }
            n
        };
        data = &data[body..];
        complete += 1;
    }
}

/// The length of a complete chunked body at the start of `data` (`Some(None)`: it is cut
/// off; `None`: not a chunked body this reading follows).
fn chunked_length(data: &[u8]) -> Option<Option<usize>> {
    let mut at = 0;
    loop {
        let Some(line) = data[at..].windows(2).position(|w| w == b"\r\n") else {
            return Some(None);
        };
        let size_text = std::str::from_utf8(&data[at..at + line]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at += line + 2;
        if size == 0 {
            // Trailer lines, then an empty line.
            loop {
                let Some(line) = data[at..].windows(2).position(|w| w == b"\r\n") else {
                    return Some(None);
                };
                at += line + 2;
                if line == 0 {
                    return Some(Some(at));
                }
            }
        }
        if data.len() < at + size + 2 {
            return Some(None);
        }
        at += size + 2;
    }
}
