//! A proxy (`proxy_stage`) in front of an upstream that records every request reaching
//! it, and the running of one input through them: the stage of the request-path targets
//! (`request_gate`, `h1_differential`).

// Each target uses a part of it.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, Method};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::proxy_stage;

/// What the upstream saw of one request.
#[derive(Debug)]
pub struct Seen {
    pub method: Method,
    /// The target as the upstream got it (path and query).
    pub target: String,
    pub headers: HeaderMap,
    pub trailers: Option<HeaderMap>,
    /// The body arrived whole (by its framing) rather than cut off.
    pub complete: bool,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

pub struct Recorder {
    pub proxy: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Upstream connections accepted and not yet closed.
    open: Arc<AtomicUsize>,
    pub upstream: SocketAddr,
    /// The harness's own connection to the upstream, which marks the end of an input.
    sentinel: Arc<Mutex<Option<SocketAddr>>>,
    /// Told when the sentinel is accepted and when an upstream connection ends.
    changed: Arc<Notify>,
}

/// A request of one input must not be recorded during the next (and blamed on it). When
/// an input's connection to the proxy is over, the upstream connections it caused are
/// established (loopback connects complete in the call) but may still wait in the
/// listener's queue, or be mid-request. So the harness then connects itself (the
/// sentinel): the queue is first in, first out, so once the sentinel is accepted every
/// earlier connection has been. And the upstream answers every request with
/// `Connection: close`, so each of those connections ends after its one request: the
/// harness waits for none to be open.
impl Recorder {
    /// The upstream, and the proxy in front of it with `extra` besides the short limits
    /// that make an input that stalls cost little.
    pub async fn start(extra: &[&str]) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let open: Arc<AtomicUsize> = Arc::default();
        let sentinel: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let changed: Arc<Notify> = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = listener.local_addr().unwrap();
        tokio::spawn(accept(
            listener,
            seen.clone(),
            open.clone(),
            sentinel.clone(),
            changed.clone(),
        ));
        let mut args = vec![
            "--header",
            "x-origin-verify",
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
        ];
        args.extend_from_slice(extra);
        let proxy = proxy_stage::serve(&format!("http://{upstream}"), &args).await;
        Self {
            proxy,
            seen,
            open,
            upstream,
            sentinel,
            changed,
        }
    }

    /// Sends `data` on one connection and closes its sending side; returns what the client
    /// got back, once every upstream connection the input caused is over.
    pub async fn run(&self, data: &[u8]) -> Vec<u8> {
        self.seen.lock().unwrap().clear();
        let mut sink = Vec::new();
        let Ok(mut stream) = TcpStream::connect(self.proxy).await else {
            return sink;
        };
        let _ = stream.write_all(data).await;
        let _ = stream.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut sink)).await;
        // The proxy has closed this connection (or the read timed out): wait, bounded, for
        // the upstream connections it caused to be accepted (the sentinel's turn) and over.
        let _sentinel = self.connect_sentinel().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            // Enabled before the check, so that a change between the two is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.sentinel.lock().unwrap().is_none() && self.open.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                break;
            }
        }
        sink
    }

    /// What the upstream saw of the last input.
    pub fn seen(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
        self.seen.lock().unwrap()
    }

    /// Connects the harness's sentinel to the upstream, its address recorded before the
    /// connect so that the accept loop knows it. The port is chosen by `bind` (the address
    /// must be known before the connect), and `bind` cannot take a port that a TIME_WAIT
    /// socket holds (as `connect` may, for another destination): the input connections
    /// the harness closes first leave one each, and 20,000 inputs in under a minute nearly
    /// fill the ephemeral range (a CI run failed so). So the sentinel binds 127.0.0.2,
    /// whose ports no input connection holds, and closes with a reset (linger 0: no
    /// TIME_WAIT of its own); a failed attempt is retried, bounded, with a fresh socket.
    async fn connect_sentinel(&self) -> TcpStream {
        let mut last = None;
        for _ in 0..50 {
            let attempt = async {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.set_zero_linger()?;
                socket.bind("127.0.0.2:0".parse().unwrap())?;
                *self.sentinel.lock().unwrap() = Some(socket.local_addr()?);
                socket.connect(self.upstream).await
            };
            match attempt.await {
                Ok(stream) => return stream,
                Err(e) => {
                    *self.sentinel.lock().unwrap() = None;
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        panic!("the sentinel cannot connect to the upstream: {last:?}");
    }
}

async fn accept(
    listener: TcpListener,
    seen: Arc<Mutex<Vec<Seen>>>,
    open: Arc<AtomicUsize>,
    sentinel: Arc<Mutex<Option<SocketAddr>>>,
    changed: Arc<Notify>,
) {
    while let Ok((stream, peer)) = listener.accept().await {
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
                        target: parts
                            .uri
                            .path_and_query()
                            .map(|p| p.as_str().to_owned())
                            .unwrap_or_default(),
                        headers: parts.headers,
                        complete: collected.is_some(),
                        trailers: collected.as_ref().and_then(|c| c.trailers().cloned()),
                        body: collected.map(|c| c.to_bytes().to_vec()).unwrap_or_default(),
                    });
                    let mut response = http::Response::new(Full::new(Bytes::from_static(b"ok")));
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
}
