//! Small HTTP clients: exact bytes over a fresh connection, and a keep-alive connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response read off the wire.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// The head, header names lowercased.
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            (n.trim() == name).then(|| v.trim().to_owned())
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request with `Host` and `Connection: close`, and the given extra fields in order.
pub fn request(method: &str, path: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: app.example.com\r\n");
    for (name, value) in fields {
        r.push_str(&format!("{name}: {value}\r\n"));
    }
    r.push_str("Connection: close\r\n\r\n");
    r.into_bytes()
}

/// Sends `bytes` on a new connection and reads the response until the server closes.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("send");
    let mut data = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut data))
        .await
        .expect("response within 20s")
        .expect("read");
    parse(&data)
}

/// Sends `bytes` on a new connection and reads one response (head, and a body by its
/// `Content-Length`), without waiting for the server to close: for requests that keep the
/// connection open (an upgrade asked for, a keep-alive).
pub async fn raw_one(addr: SocketAddr, bytes: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("send");
    let mut data = Vec::new();
    let read_one = async {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(split) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let length = parse(&data[..split + 4])
                    .header("content-length")
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if data.len() >= split + 4 + length {
                    return;
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_one)
        .await
        .expect("response within 20s");
    parse(&data)
}

pub async fn get(addr: SocketAddr, path: &str, fields: &[(&str, &str)]) -> Reply {
    raw(addr, &request("GET", path, fields)).await
}

fn parse(data: &[u8]) -> Reply {
    let split = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(data)));
    let head = String::from_utf8_lossy(&data[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let head = head
        .lines()
        .enumerate()
        .map(|(i, l)| match (i, l.split_once(':')) {
            (0, _) | (_, None) => l.to_owned(),
            (_, Some((n, v))) => format!("{}:{v}", n.to_ascii_lowercase()),
        })
        .collect::<Vec<_>>()
        .join("\n");
    Reply {
        status,
        head,
        body: data[split + 4..].to_vec(),
    }
}

/// One HTTP/1.1 keep-alive connection; tells when the server closed it.
#[derive(Debug)]
pub struct KeepAlive {
    sender: SendRequest<Empty<Bytes>>,
    closed_at: Arc<Mutex<Option<Instant>>>,
}

impl KeepAlive {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        let closed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
        let mark = closed_at.clone();
        tokio::spawn(async move {
            let _ = conn.await;
            *mark.lock().unwrap() = Some(Instant::now());
        });
        Self { sender, closed_at }
    }

    /// GET `path` on this connection: (status, `connection` field, body).
    pub async fn get(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<(u16, Option<String>, Bytes), hyper::Error> {
        self.sender.ready().await?;
        let mut req = Request::get(path).header("host", "app.example.com");
        for (n, v) in fields {
            req = req.header(*n, *v);
        }
        let response = self
            .sender
            .send_request(req.body(Empty::new()).unwrap())
            .await?;
        let status = response.status().as_u16();
        let connection = response
            .headers()
            .get("connection")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, connection, body))
    }

    /// When the server closed the connection, if it has.
    pub fn closed_at(&self) -> Option<Instant> {
        *self.closed_at.lock().unwrap()
    }

    /// Polls until the server closes the connection, for at most `limit`.
    pub async fn wait_closed(&self, limit: Duration) -> Instant {
        crate::poll(limit, "the server to close the connection", || {
            std::future::ready(self.closed_at())
        })
        .await
    }
}
