//! The request gate end to end: arbitrary bytes into a served connection of the proxy's
//! enforcing listener (the binary's own serving code: sniffing, HTTP/1.1 or h2c, the check,
//! the strip, forwarding) in front of an upstream that records what reaches it. Invariants:
//! - the secret never reaches the upstream: no `x-origin-verify` field, no trailers at
//!   all (request trailers are dropped), and a field whose value is the secret only under a
//!   name the client itself sent (a client may put the secret anywhere it likes: the proxy
//!   must not copy it anywhere);
//! - nothing reaches the upstream without the secret in the input, except a GET or HEAD of
//!   the health path.
#![no_main]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use edgeguard_proxy::app::Stack;
use edgeguard_proxy::auth::{AcceptedSet, AcceptedValue, Secret};
use edgeguard_proxy::config;
use edgeguard_proxy::gate::Listener;
use http::{HeaderMap, HeaderName, Method};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

const SECRET: &str = "kq3Zr0c1T9xW5yPp8N2bVfLmHs7Ud4Ea6GoJiRtYeQw";
const HEADER: HeaderName = HeaderName::from_static("x-origin-verify");

/// What the upstream saw of one request.
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    trailers: Option<HeaderMap>,
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
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
    let set = AcceptedSet::new(vec![AcceptedValue::new(
        "current".into(),
        "v1".into(),
        Secret::new(SECRET.as_bytes()).unwrap(),
        Arc::default(),
    )])
    .unwrap();
    // Built and served as the binary's own (`app::Stack`), with short limits so that an
    // input that stalls costs little.
    let upstream_url = format!("http://{upstream_addr}");
    let config = config::from_args(&[
        "--upstream",
        &upstream_url,
        "--secret-source",
        "env:EDGEGUARD_FUZZ_UNUSED",
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
    ])
    .unwrap();
    let stack = Stack::new(&config);
    stack.shared.accepted.store(Some(Arc::new(set)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    stack.serve(Listener::Enforcing, listener, None);
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
        let health = (s.method == Method::GET || s.method == Method::HEAD) && s.path == "/healthz";
        assert!(
            with_secret || health,
            "{} {} reached the upstream without the secret in the input",
            s.method,
            s.path
        );
    }
});
