//! Regression tests for what an adversarial run found, each with the exact bytes sent over
//! a raw socket and a look at what the upstream received:
//! 1. the secret header delivered to the app as a request *trailer* (chunked HTTP/1.1 or an
//!    HTTP/2 HEADERS frame after the DATA), on both listeners and through the health path.
//!    Two layers stop it: the request body drops trailer frames (`body::RequestBody`),
//!    and the gate removes the `Trailer` field that announces them (hyper's HTTP/1.1
//!    encoder sends only announced trailers). The HTTP/1.1 test fails without the second,
//!    the HTTP/2 one without both, and passes with the first alone;
//! 2. the health-path bypass used for more than a health check (an upgrade, h2c with
//!    `HTTP2-Settings`, a body, CONNECT);
//! 3. an h2c preface dripped a byte at a time to hold a connection past the head deadline.

use std::time::{Duration, Instant};

use edgeguard_tests::client::{raw, raw_one};
use edgeguard_tests::fixture::Fixture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const H: &str = "x-origin-verify";

fn chunked_with_trailer(path: &str, fields: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: app.example.com\r\n{fields}Transfer-Encoding: chunked\r\n\
         Trailer: x-origin-verify, x-note\r\nConnection: close\r\n\r\n\
         5\r\nhello\r\n0\r\nx-origin-verify: attacker-chosen-value\r\nx-note: t\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_never_reaches_the_app_as_a_trailer() {
    let f = Fixture::start(|b| b).await;
    // Enforcing listener, with a valid header: forwarded, trailers dropped.
    let valid = format!("{H}: {}\r\n", f.a);
    let reply = raw(
        f.proxy.enforcing(),
        &chunked_with_trailer("/upload", &valid),
    )
    .await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "5"));
    // Internal listener, no header needed: trailers dropped all the same.
    let reply = raw(f.proxy.internal(), &chunked_with_trailer("/upload", "")).await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "5"));
    let seen = f.upstream.seen_at("/upload");
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert!(s.headers.get(H).is_none(), "{:?}", s.headers);
        assert!(
            s.headers.get("trailer").is_none(),
            "nothing announces trailers"
        );
        assert!(
            s.trailers.as_ref().is_none_or(|t| t.is_empty()),
            "request trailers reach the app: {:?}",
            s.trailers
        );
    }
    // Through the health path without the header: not a health check, so checked (403).
    let reply = raw(f.proxy.enforcing(), &chunked_with_trailer("/healthz", "")).await;
    assert_eq!(reply.status, 403);
    assert!(f.upstream.seen_at("/healthz").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_path_lets_through_only_a_health_check() {
    let f = Fixture::start(|b| b).await;
    let addr = f.proxy.enforcing();
    let abuses: [(&str, &[u8]); 6] = [
        (
            "websocket upgrade",
            b"GET /healthz HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ),
        (
            "h2c upgrade",
            b"GET /healthz HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade, HTTP2-Settings\r\n\
              Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
        ),
        (
            "HTTP2-Settings alone",
            b"GET /healthz HTTP/1.1\r\nHost: app.example.com\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nConnection: close\r\n\r\n",
        ),
        (
            "POST with a body",
            b"POST /healthz HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        ),
        (
            "GET with a body",
            b"GET /healthz HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody",
        ),
        (
            "CONNECT",
            b"CONNECT /healthz HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n",
        ),
    ];
    for (what, bytes) in abuses {
        let reply = raw_one(addr, bytes).await;
        assert!(
            reply.status == 403 || reply.status == 400,
            "{what}: {} {}",
            reply.status,
            reply.text()
        );
        assert!(
            f.upstream.seen_at("/healthz").is_empty(),
            "{what} reached the app"
        );
    }
    // The health checks themselves still pass without the header.
    for method in ["GET", "HEAD"] {
        let bytes = format!(
            "{method} /healthz HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(raw(addr, bytes.as_bytes()).await.status, 200, "{method}");
    }
    assert_eq!(f.upstream.seen_at("/healthz").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_preface_dripped_a_byte_at_a_time_gets_one_head_deadline() {
    let f = Fixture::start(|b| b.arg("--header-read-timeout", "1s")).await;
    let mut stream = TcpStream::connect(f.proxy.enforcing()).await.unwrap();
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let first = Instant::now();
    let mut closed_at = None;
    for b in preface {
        if stream.write_all(&[*b]).await.is_err() {
            closed_at = Some(Instant::now());
            break;
        }
        // Every byte well within the 1 s limit: per-read deadlines would never fire.
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(400), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed_at = Some(Instant::now());
                break;
            }
            _ => {}
        }
    }
    let closed_at = closed_at.expect("the proxy closed the connection before the whole preface");
    let held = closed_at - first;
    assert!(
        held < Duration::from_secs(3),
        "held {held:?} with a 1 s head deadline (24 bytes at 400 ms each would be 9.6 s)"
    );
}

/// The same over HTTP/2 (h2c with prior knowledge): a HEADERS frame after the DATA carries
/// the secret as a trailer, on both listeners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_never_reaches_the_app_as_an_http2_trailer() {
    use bytes::Bytes;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let f = Fixture::start(|b| b).await;
    for (addr, header) in [
        (f.proxy.enforcing(), Some(f.a.clone())),
        (f.proxy.internal(), None),
    ] {
        let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut trailers = http::HeaderMap::new();
        trailers.insert(H, http::HeaderValue::from_static("attacker-chosen-value"));
        trailers.insert("x-note", http::HeaderValue::from_static("t"));
        // No length known in advance: forwarded chunked, which can carry trailers.
        let body = Frames(vec![
            http_body::Frame::trailers(trailers),
            http_body::Frame::data(Bytes::from_static(b"hello")),
        ]);
        // Announced, as the adversarial run did: `trailer: x-origin-verify`.
        let mut request = http::Request::post("http://app.example.com/upload")
            .header("trailer", "x-origin-verify, x-note");
        if let Some(v) = &header {
            request = request.header(H, v.as_str());
        }
        let response = sender
            .send_request(request.body(body).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let seen = f.upstream.seen_at("/upload");
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert!(s.headers.get(H).is_none());
        assert!(
            s.trailers.as_ref().is_none_or(|t| t.get(H).is_none()),
            "the secret header reached the app as a trailer: {:?}",
            s.trailers
        );
    }
}

/// A request body of the given frames (last first), with no size hint.
struct Frames(Vec<http_body::Frame<bytes::Bytes>>);

impl http_body::Body for Frames {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop().map(Ok))
    }
}

/// Out of file descriptors (`RLIMIT_NOFILE` 64, 120 connections): the connections the
/// proxy has are served on, the failed accepts are logged at a rate limit, the proxy never
/// exits, and it accepts again once descriptors are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_proxy_serves_on_and_recovers() {
    use edgeguard_tests::client::KeepAlive;

    let mut f = Fixture::start(|b| b.fd_limit(64)).await;
    let addr = f.proxy.enforcing();
    let secret = f.a.clone();
    let fields = [(H, secret.as_str())];
    // A client connection with its own app connection (from its second request on).
    let mut kept = KeepAlive::connect(addr).await;
    for _ in 0..3 {
        assert_eq!(kept.get("/before", &fields).await.unwrap().0, 200);
    }
    // Far more connections than descriptors: the kernel completes them (backlog); the
    // proxy accepts until EMFILE.
    let mut flood = Vec::new();
    for _ in 0..120 {
        flood.push(TcpStream::connect(addr).await.unwrap());
    }
    let exhausted = Instant::now();
    // Wait until the proxy has hit the limit (its log says so), then keep it there a while.
    edgeguard_tests::poll(
        Duration::from_secs(10),
        "an accept failure in the log",
        || std::future::ready(f.proxy.output().contains("accept failed").then_some(())),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // exhaustion lasting is the subject
    for _ in 0..5 {
        let (status, _, _) = kept.get("/during", &fields).await.unwrap();
        assert_eq!(status, 200, "an open connection is served on");
    }
    let lines = f.proxy.output().matches("accept failed").count();
    assert!(
        lines <= 2,
        "{lines} accept-failure lines in {:?}: not rate limited",
        exhausted.elapsed()
    );
    drop(flood);
    // Descriptors come back as the proxy sees the flood's connections close.
    edgeguard_tests::poll(Duration::from_secs(20), "a new connection served again", || async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let req = format!(
            "GET /after HTTP/1.1\r\nHost: app.example.com\r\n{H}: {secret}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf))
            .await
            .ok()?
            .ok()?;
        buf.starts_with(b"HTTP/1.1 200").then_some(())
    })
    .await;
    assert!(f.proxy.child_running(), "the proxy never exits");
    assert!(!f.upstream.seen_at("/after").is_empty());
}
