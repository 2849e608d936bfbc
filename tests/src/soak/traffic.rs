//! The soak's clients: a steady load of valid requests (with the value the proxy is known
//! to accept) and invalid ones (no header, a wrong value, two fields, a retired value, a
//! near miss), and the idle keep-alive connections held open for the whole run.
//!
//! A valid request holds a read lock on its door's value while in flight; a rotation
//! takes the write lock to switch values, so no valid request carries a value the
//! rotation has started to retire. A 403 on a valid request is therefore always a defect.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::RwLock;
use tokio::task::JoinSet;

use crate::world::HEADER;

/// How long one request may take before it counts as unanswered (as `load::status`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One proxy under soak, as its clients see it.
#[derive(Debug)]
pub struct Door {
    pub name: &'static str,
    pub addr: SocketAddr,
    /// The value valid requests carry: one the proxy accepts.
    pub value: Arc<RwLock<String>>,
    /// A value the proxy has been seen to reject after a rotation retired it.
    pub retired: Mutex<Option<String>>,
    pub stats: TrafficStats,
}

impl Door {
    pub fn new(name: &'static str, addr: SocketAddr, value: String) -> Arc<Self> {
        Arc::new(Self {
            name,
            addr,
            value: Arc::new(RwLock::new(value)),
            retired: Mutex::new(None),
            stats: TrafficStats::default(),
        })
    }
}

#[derive(Debug, Default)]
pub struct TrafficStats {
    pub valid_sent: AtomicU64,
    pub valid_ok: AtomicU64,
    /// 403 for a value the proxy accepts: must stay 0.
    pub valid_rejected: AtomicU64,
    /// 5xx or no answer: expected only while the app is down.
    pub valid_unavailable: AtomicU64,
    pub invalid_sent: AtomicU64,
    pub invalid_rejected: AtomicU64,
    /// 2xx for an invalid request: must stay 0.
    pub invalid_forwarded: AtomicU64,
    /// Anything else (a 5xx, no answer).
    pub invalid_other: AtomicU64,
    /// Latencies of this sampling window's successful valid requests, in microseconds.
    pub window_us: Mutex<Vec<u32>>,
    /// When each unavailable valid request was sent and answered.
    pub unavailable_at: Mutex<Vec<(Instant, Instant)>>,
    /// The first defects, described (never with a value).
    pub defects: Mutex<Vec<String>>,
}

impl TrafficStats {
    fn defect(&self, text: String) {
        let mut d = self.defects.lock().unwrap();
        if d.len() < 20 {
            d.push(text);
        }
    }

    /// The 99th percentile of this window's latencies, in ms; starts the next window.
    pub fn take_p99_ms(&self) -> Option<f64> {
        let mut w = std::mem::take(&mut *self.window_us.lock().unwrap());
        if w.is_empty() {
            return None;
        }
        w.sort_unstable();
        let i = ((w.len() as f64) * 0.99).ceil() as usize - 1;
        Some(f64::from(w[i.min(w.len() - 1)]) / 1000.0)
    }
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends GET `path` with the header fields given; the status (body read), or why none,
/// within 10 s.
pub async fn status(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
    values: &[&str],
) -> Result<u16, String> {
    let mut req = Request::get(format!("http://{addr}{path}"));
    for v in values {
        req = req.header(HEADER, *v);
    }
    crate::load::status(client, req).await
}

/// Runs the load on every door until `stop`: `valid_rps` and `invalid_rps` per door.
pub async fn run(doors: Vec<Arc<Door>>, valid_rps: u32, invalid_rps: u32, stop: Arc<AtomicBool>) {
    let client = client();
    let mut loops = JoinSet::new();
    for door in doors {
        let (c, d) = (client.clone(), door.clone());
        loops.spawn(crate::load::every(valid_rps, stop.clone(), move |n| {
            valid(c.clone(), d.clone(), n)
        }));
        let (c, d) = (client.clone(), door.clone());
        loops.spawn(crate::load::every(invalid_rps, stop.clone(), move |n| {
            invalid(c.clone(), d.clone(), n)
        }));
    }
    while loops.join_next().await.is_some() {}
}

async fn valid(client: HttpClient, door: Arc<Door>, n: u64) {
    let s = &door.stats;
    s.valid_sent.fetch_add(1, Relaxed);
    let value = door.value.clone().read_owned().await;
    let sent = Instant::now();
    let outcome = status(&client, door.addr, &format!("/valid?n={n}"), &[&value]).await;
    let answered = Instant::now();
    drop(value);
    match outcome {
        Ok(200) => {
            s.valid_ok.fetch_add(1, Relaxed);
            let us = u32::try_from(answered.duration_since(sent).as_micros()).unwrap_or(u32::MAX);
            s.window_us.lock().unwrap().push(us);
        }
        Ok(403) => {
            s.valid_rejected.fetch_add(1, Relaxed);
            s.defect(format!(
                "{}: valid request {n} rejected with 403",
                door.name
            ));
        }
        _ => {
            s.valid_unavailable.fetch_add(1, Relaxed);
            s.unavailable_at.lock().unwrap().push((sent, answered));
        }
    }
}

/// The kinds of invalid request, in turn.
pub const INVALID_KINDS: [&str; 5] = [
    "no header",
    "a wrong value",
    "the valid value and a wrong one",
    "a retired value",
    "the valid value with a byte more",
];

async fn invalid(client: HttpClient, door: Arc<Door>, n: u64) {
    let s = &door.stats;
    s.invalid_sent.fetch_add(1, Relaxed);
    let current = door.value.read().await.clone();
    let wrong = "wrong-value-0000000000000000000000000000000".to_string();
    let kind = (n % INVALID_KINDS.len() as u64) as usize;
    let values: Vec<String> = match kind {
        0 => vec![],
        1 => vec![wrong],
        2 => vec![current, wrong],
        3 => {
            let retired = door.retired.lock().unwrap().clone();
            vec![retired.unwrap_or_else(|| format!("{current}x"))]
        }
        _ => vec![format!("{current}x")],
    };
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    match status(&client, door.addr, &format!("/invalid?n={n}"), &values).await {
        Ok(s2) if (200..300).contains(&s2) => {
            s.invalid_forwarded.fetch_add(1, Relaxed);
            s.defect(format!(
                "{}: invalid request {n} ({}) forwarded: {s2}",
                door.name, INVALID_KINDS[kind]
            ));
        }
        Ok(400..=499) => {
            s.invalid_rejected.fetch_add(1, Relaxed);
        }
        _ => {
            s.invalid_other.fetch_add(1, Relaxed);
        }
    }
}

/// Opens `n` keep-alive connections to `addr`, each after one valid request answered 200.
pub async fn open_idle(addr: SocketAddr, value: &str, n: usize) -> Result<Vec<TcpStream>, String> {
    let request = format!("GET /valid?idle HTTP/1.1\r\nHost: soak\r\n{HEADER}: {value}\r\n\r\n");
    let request = Arc::new(request.into_bytes());
    let mut open = Vec::with_capacity(n);
    let mut batch = JoinSet::new();
    for i in 0..n {
        let request = request.clone();
        batch.spawn(async move { one_request(addr, &request).await });
        if batch.len() >= 256 || i + 1 == n {
            while let Some(done) = batch.join_next().await {
                open.push(done.map_err(|e| e.to_string())??);
            }
        }
    }
    Ok(open)
}

async fn one_request(addr: SocketAddr, request: &[u8]) -> Result<TcpStream, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .write_all(request)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut data = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let got = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if got == 0 {
                return Err("closed before the response".to_string());
            }
            data.extend_from_slice(&buf[..got]);
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                if !head.starts_with("http/1.1 200") {
                    return Err(format!("answered {}", head.lines().next().unwrap_or("")));
                }
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or("no content-length")?;
                if data.len() >= end + 4 + length {
                    return Ok(stream);
                }
            }
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| "no answer".to_string())?
}

/// How many of `streams` the proxy has closed (read end at EOF or failed); none is read
/// from otherwise, so an open one stays idle.
pub fn count_closed(streams: &[TcpStream]) -> usize {
    let mut buf = [0u8; 1];
    streams
        .iter()
        .filter(|s| !matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock))
        .count()
}
