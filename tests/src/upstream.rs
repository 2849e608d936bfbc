//! A real HTTP upstream on loopback that records what reached it.
//!
//! Routes: `/slow?ms=N` answers after N ms; `/slow-body?ms=N` sends its head at once and
//! its body after N ms; `/upload` reads the whole body and answers
//! with its length; `/download?bytes=N` streams N bytes; `/close` answers with
//! `Connection: close` and closes; `/hop` answers with connection-level fields (`Connection`
//! naming `X-App-Hop`, `Keep-Alive`) beside an end-to-end `x-app-end`; anything else answers 200 "ok".
//! Every request's headers are recorded, so tests can prove what was (not) forwarded, and
//! connections are counted as they open and close.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, UnixListener};

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path_and_query: String,
    pub headers: HeaderMap,
    /// The request's trailers, when `/upload` read its body to the end and there were any.
    pub trailers: Option<HeaderMap>,
}

#[derive(Debug, Clone, Default)]
pub struct Upstream {
    pub addr: Option<SocketAddr>,
    /// Set when it listens on a Unix domain socket instead.
    pub socket: Option<PathBuf>,
    seen: Arc<Mutex<Vec<Seen>>>,
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Upstream {
    /// Starts serving on 127.0.0.1 (a free port) on the current runtime.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Like `start`, but closes a keep-alive connection that has waited `idle` for its
    /// next request, as app servers do (Node's default is 5 s).
    pub async fn start_with(idle: Option<Duration>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = Self {
            addr: Some(listener.local_addr().unwrap()),
            ..Self::default()
        };
        let this = upstream.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                this.serve(stream, idle);
            }
        });
        upstream
    }

    /// Like `start`, on a Unix domain socket at `path` (the proxy's `--upstream unix:…`).
    pub async fn start_unix(path: &Path) -> Self {
        let listener = UnixListener::bind(path).unwrap();
        let upstream = Self {
            socket: Some(path.to_owned()),
            ..Self::default()
        };
        let this = upstream.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                this.serve(stream, None);
            }
        });
        upstream
    }

    /// The URL of a Unix socket nobody listens on (yet): an app that has not started.
    pub fn absent_unix(path: &Path) -> Self {
        Self {
            socket: Some(path.to_owned()),
            ..Self::default()
        }
    }

    /// Serves one accepted connection on its own task, counting it.
    fn serve<S>(&self, stream: S, idle: Option<Duration>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        self.opened.fetch_add(1, Ordering::SeqCst);
        let (seen, closed) = (self.seen.clone(), self.closed.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, seen.clone()));
            let mut http = http1::Builder::new();
            // hyper's header-read timer also runs between requests: exactly an
            // app's keep-alive timeout.
            http.timer(TokioTimer::new()).header_read_timeout(idle);
            let _ = http
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
            closed.fetch_add(1, Ordering::SeqCst);
        });
    }

    /// Connections accepted so far.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    /// Connections that have ended so far.
    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    /// The proxy's `--upstream` for it.
    pub fn url(&self) -> String {
        match &self.socket {
            Some(path) => format!("unix:{}", path.display()),
            None => format!("http://{}", self.addr.unwrap()),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests whose path (without query) is `path`.
    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path_and_query.split('?').next() == Some(path))
            .collect()
    }
}

type Body = BoxBody<Bytes, std::io::Error>;

fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

fn query_number(req: &Request<Incoming>, key: &str) -> u64 {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

async fn handle(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<Body>, Infallible> {
    let index = {
        let mut seen = seen.lock().unwrap();
        seen.push(Seen {
            path_and_query: req
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            headers: req.headers().clone(),
            trailers: None,
        });
        seen.len() - 1
    };
    let response = match req.uri().path() {
        "/ws" => return Ok(echo_upgrade(req)),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(query_number(&req, "ms"))).await;
            Response::new(full("slow done\n"))
        }
        "/slow-body" => Response::new(BodyExt::boxed(SlowBody {
            wait: Box::pin(tokio::time::sleep(Duration::from_millis(query_number(
                &req, "ms",
            )))),
            sent: false,
        })),
        "/upload" => {
            let mut body = req.into_body();
            let mut total: u64 = 0;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => {
                        total += f.data_ref().map_or(0, |d| d.len() as u64);
                        if let Ok(trailers) = f.into_trailers() {
                            seen.lock().unwrap()[index].trailers = Some(trailers);
                        }
                    }
                    Err(_) => break,
                }
            }
            Response::new(full(format!("{total}")))
        }
        "/download" => Response::new(BodyExt::boxed(Download {
            left: query_number(&req, "bytes"),
            chunk: Bytes::from(vec![b'x'; 64 * 1024]),
        })),
        "/hop" => Response::builder()
            .header("connection", "keep-alive, X-App-Hop")
            .header("x-app-hop", "1")
            .header("keep-alive", "timeout=5")
            .header("x-app-end", "1")
            .body(full("hop\n"))
            .unwrap(),
        "/close" => Response::builder()
            .header("connection", "close")
            .body(full("closing\n"))
            .unwrap(),
        _ => Response::new(full("ok\n")),
    };
    Ok(response)
}

/// Answers an upgrade with 101 and then echoes every byte back (the WebSocket handshake
/// without the framing: enough to prove the proxy's tunnel).
fn echo_upgrade(mut req: Request<Incoming>) -> Response<Body> {
    if req.headers().get("upgrade").is_none() {
        return Response::builder()
            .status(400)
            .body(full("upgrade required\n"))
            .unwrap();
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let (mut read, mut write) = tokio::io::split(TokioIo::new(upgraded));
            let _ = tokio::io::copy(&mut read, &mut write).await;
        }
    });
    Response::builder()
        .status(101)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        .body(full(""))
        .unwrap()
}

/// A body of `left` bytes, sent in 64 KiB frames.
/// A body whose one chunk comes after a wait: its head was answered long before.
struct SlowBody {
    wait: std::pin::Pin<Box<tokio::time::Sleep>>,
    sent: bool,
}

impl http_body::Body for SlowBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.sent {
            return std::task::Poll::Ready(None);
        }
        std::task::ready!(self.wait.as_mut().poll(cx));
        self.sent = true;
        std::task::Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
            b"slow body done\n",
        )))))
    }
}

struct Download {
    left: u64,
    chunk: Bytes,
}

impl http_body::Body for Download {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.left.min(self.chunk.len() as u64) as usize;
        self.left -= n as u64;
        std::task::Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }
}
