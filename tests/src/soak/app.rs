//! The soak's app: a minimal HTTP/1.1 server that counts what reaches it, and that can be
//! killed (listener closed, every connection cut: new connections are refused) and
//! restarted on the same port, as an app container's process would be.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;
use tokio::task::JoinSet;

use crate::world::HEADER;

/// What reached the app.
#[derive(Debug, Default)]
pub struct AppCounts {
    /// Requests on a path under `/valid`.
    pub valid: AtomicU64,
    /// Requests on a path under `/invalid`: the proxy must never forward one.
    pub invalid: AtomicU64,
    /// Requests that still carried the checked header: the proxy must strip it.
    pub with_header: AtomicU64,
}

#[derive(Debug)]
pub struct App {
    pub addr: SocketAddr,
    pub counts: Arc<AppCounts>,
    /// The accept loop and every connection: aborting them is the kill.
    running: Option<JoinSet<()>>,
}

impl App {
    pub async fn start() -> Self {
        let mut app = Self {
            addr: "127.0.0.1:0".parse().unwrap(),
            counts: Arc::default(),
            running: None,
        };
        app.restart().await;
        app
    }

    /// Stops listening and cuts every open connection.
    pub fn kill(&mut self) {
        // Dropping the set aborts the accept task, whose listener closes (new connections
        // are refused from now on) and whose own set of connections aborts them all.
        drop(self.running.take());
    }

    /// Listens again on the same address (the first call picks a free port).
    pub async fn restart(&mut self) {
        self.kill();
        let socket = TcpSocket::new_v4().expect("socket");
        // The port was just ours: its connections in TIME_WAIT must not stop the rebind.
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(self.addr).expect("bind the app's port again");
        let listener = socket.listen(1024).expect("listen");
        self.addr = listener.local_addr().expect("local addr");
        let counts = self.counts.clone();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let counts = counts.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(req, counts.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        self.running = Some(tasks);
    }
}

async fn handle(
    req: Request<Incoming>,
    counts: Arc<AppCounts>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    if path.starts_with("/invalid") {
        counts.invalid.fetch_add(1, Relaxed);
    } else if path.starts_with("/valid") {
        counts.valid.fetch_add(1, Relaxed);
    }
    if req.headers().contains_key(HEADER) {
        counts.with_header.fetch_add(1, Relaxed);
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"ok\n"))))
}
