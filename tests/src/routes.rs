//! The ways a request reaches the app through the proxy, so that one test can run on all
//! of them: an HTTP/1.1 connection's first request goes through the shared pool, its
//! later keep-alive ones over its own app connection (paired), an HTTP/2 stream over its
//! connection's own set. (Each of them over TCP or a Unix socket: the app's choice.)

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::wire;

/// The HTTP/1.1 routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H1Route {
    /// The connection's first request: the shared pool.
    Pool,
    /// Its second keep-alive request: its own app connection.
    Paired,
}

pub const H1_ROUTES: [H1Route; 2] = [H1Route::Pool, H1Route::Paired];

/// A response as the client read it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The head, field names lowercased.
    pub head: String,
    pub body: Vec<u8>,
    /// The body ended as its framing says (or the connection closed for a
    /// close-delimited one).
    pub well_framed: bool,
}

impl Answer {
    /// The value of the first field named `name` (any case).
    pub fn field(&self, name: &str) -> Option<String> {
        wire::field(&self.head, name)
    }
}

/// An HTTP/1.1 connection to the proxy, holding the bytes read past the last response.
#[derive(Debug)]
pub struct H1 {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl H1 {
    /// A connection on which the next request goes by `route`: for `Paired`, a first
    /// keep-alive request (GET `/warm-up` with `secret`) has been answered.
    pub async fn open(addr: SocketAddr, route: H1Route, secret: &str) -> Self {
        let mut c = Self {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        };
        if route == H1Route::Paired {
            let warm = format!(
                "GET /warm-up HTTP/1.1\r\nHost: app.example.com\r\nx-origin-verify: {secret}\r\n\r\n"
            );
            let answer = c.exchange(warm.as_bytes(), "GET").await;
            assert_eq!(answer.status, 200, "the warm-up request: {answer:?}");
        }
        c
    }

    /// Sends `bytes` and reads one response (to a request of `method`).
    pub async fn exchange(&mut self, bytes: &[u8], method: &str) -> Answer {
        self.send(bytes).await;
        self.read(method).await
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    /// Closes the connection (both ways).
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
        drop(self.stream);
    }

    /// Reads one response, at most 20 s.
    pub async fn read(&mut self, method: &str) -> Answer {
        tokio::time::timeout(Duration::from_secs(20), self.read_one(method))
            .await
            .expect("a response within 20 s")
    }

    async fn read_one(&mut self, method: &str) -> Answer {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(
                self.fill().await,
                "the connection closed before a response head: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        let head: String = String::from_utf8_lossy(&self.buf[..end - 4])
            .split("\r\n")
            .enumerate()
            .map(|(i, l)| match (i, l.split_once(':')) {
                (0, _) | (_, None) => l.to_owned(),
                (_, Some((n, v))) => format!("{}:{v}", n.to_ascii_lowercase()),
            })
            .collect::<Vec<_>>()
            .join("\r\n");
        self.buf.drain(..end);
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        let mut answer = Answer {
            status,
            head,
            body: Vec::new(),
            well_framed: true,
        };
        if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
            return answer;
        }
        if answer
            .field("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            (answer.body, answer.well_framed) =
                wire::read_chunked(&mut self.stream, &mut self.buf).await;
        } else if let Some(length) = answer.field("content-length") {
            let length: usize = length.parse().expect("a numeric Content-Length");
            while self.buf.len() < length {
                if !self.fill().await {
                    answer.well_framed = false;
                    break;
                }
            }
            let n = length.min(self.buf.len());
            answer.body = self.buf.drain(..n).collect();
        } else {
            while self.fill().await {}
            answer.body = std::mem::take(&mut self.buf);
        }
        answer
    }

    async fn fill(&mut self) -> bool {
        wire::fill(&mut self.stream, &mut self.buf).await
    }
}
