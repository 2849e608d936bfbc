//! An app that speaks HTTP/1.1 by hand: it records each request exactly as the bytes
//! arrived (head, every `Host` line, whether its body was complete by its own framing),
//! and answers with scripted bytes, well formed or not. The request-integrity tests read
//! what reached the app from it, and make it answer in ways hyper's servers never would.
//!
//! It listens on 127.0.0.1 (a free port) or a Unix socket. A request for a path in the
//! script gets those bytes; any other gets `200 ok`. After answering, the connection
//! serves the next request, unless the script says to close.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};

use crate::wire;

/// One request as it reached the app.
#[derive(Debug, Clone)]
pub struct Arrived {
    pub method: String,
    pub target: String,
    /// Every `Host` line's value, in order.
    pub hosts: Vec<String>,
    /// The head as received.
    pub head: String,
    pub body: Vec<u8>,
    /// The body ended as its framing says (all of `Content-Length`, or the last chunk);
    /// false when the connection ended first.
    pub complete: bool,
}

impl Arrived {
    /// The value of the first field named `name` (any case).
    pub fn field(&self, name: &str) -> Option<String> {
        wire::field(&self.head, name)
    }

    pub fn fields_named(&self, name: &str) -> usize {
        self.head
            .split("\r\n")
            .skip(1)
            .filter(|line| {
                line.split_once(':')
                    .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            })
            .count()
    }
}

/// What the app answers to a path.
#[derive(Debug, Clone)]
pub struct Answer {
    pub bytes: Vec<u8>,
    pub close: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RawApp {
    pub url: String,
    arrived: Arc<Mutex<Vec<Arrived>>>,
    /// The target of every head, as soon as it is read (before its body).
    heads: Arc<Mutex<Vec<String>>>,
    script: Arc<HashMap<String, Answer>>,
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";

impl RawApp {
    fn new(url: String, script: HashMap<String, Answer>) -> Self {
        Self {
            url,
            arrived: Arc::default(),
            heads: Arc::default(),
            script: Arc::new(script),
        }
    }

    pub async fn start(script: HashMap<String, Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app = Self::new(format!("http://{}", listener.local_addr().unwrap()), script);
        let this = app.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(this.clone().serve(stream));
            }
        });
        app
    }

    pub async fn start_unix(path: &Path, script: HashMap<String, Answer>) -> Self {
        let listener = UnixListener::bind(path).unwrap();
        let app = Self::new(format!("unix:{}", path.display()), script);
        let this = app.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(this.clone().serve(stream));
            }
        });
        app
    }

    pub fn arrived(&self) -> Vec<Arrived> {
        self.arrived.lock().unwrap().clone()
    }

    /// Requests whose target's path is `path`.
    pub fn arrived_at(&self, path: &str) -> Vec<Arrived> {
        self.arrived()
            .into_iter()
            .filter(|a| a.target.split('?').next() == Some(path))
            .collect()
    }

    /// Waits (polling, at most 10 s) for a request at `path` whose body has been read
    /// to its end or to the connection's.
    pub async fn wait_for(&self, path: &str) -> Arrived {
        crate::poll(
            Duration::from_secs(10),
            &format!("a request at {path}"),
            || std::future::ready(self.arrived_at(path).pop()),
        )
        .await
    }

    /// Waits for the head of a request at `path` to arrive (its body may still come).
    pub async fn wait_for_head(&self, path: &str) {
        crate::poll(
            Duration::from_secs(10),
            &format!("a head at {path}"),
            || {
                let heads = self.heads.lock().unwrap();
                std::future::ready(
                    heads
                        .iter()
                        .any(|t| t.split('?').next() == Some(path))
                        .then_some(()),
                )
            },
        )
        .await
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(self, mut stream: S) {
        let mut buf = Vec::new();
        loop {
            let Some(arrived) = read_request(&mut stream, &mut buf, &self).await else {
                return;
            };
            let complete = arrived.complete;
            let path = arrived.target.split('?').next().unwrap_or("").to_owned();
            self.arrived.lock().unwrap().push(arrived);
            if !complete {
                return;
            }
            let answer = self.script.get(&path).cloned().unwrap_or(Answer {
                bytes: OK.to_vec(),
                close: false,
            });
            if stream.write_all(&answer.bytes).await.is_err() || answer.close {
                return;
            }
        }
    }
}

/// Reads one request: `None` when the connection ends before a head.
async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    app: &RawApp,
) -> Option<Arrived> {
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if !wire::fill(stream, buf).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    let mut lines = head.split("\r\n");
    let mut start = lines.next().unwrap_or("").split(' ');
    let (method, target) = (
        start.next().unwrap_or("").to_owned(),
        start.next().unwrap_or("").to_owned(),
    );
    app.heads.lock().unwrap().push(target.clone());
    let fields: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let hosts = fields
        .iter()
        .filter(|(n, _)| n == "host")
        .map(|(_, v)| v.clone())
        .collect();
    let chunked = fields
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let length = fields
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let (body, complete) = if chunked {
        wire::read_chunked(stream, buf).await
    } else {
        let want = length.unwrap_or(0);
        let mut complete = true;
        while buf.len() < want {
            if !wire::fill(stream, buf).await {
                complete = false;
                break;
            }
        }
        let n = want.min(buf.len());
        (buf.drain(..n).collect(), complete)
    };
    Some(Arrived {
        method,
        target,
        hosts,
        head,
        body,
        complete,
    })
}
