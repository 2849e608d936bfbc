//! A fixed-rate load generator for the end-to-end rotation tests: valid traffic through the
//! edge twin's front doors, and unauthenticated traffic (no header, a wrong one) straight at
//! the proxies. Every answer is counted; the first failures are kept with their status.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;

use crate::world::HEADER;

/// The path unauthenticated requests use: the upstream must never see it.
pub const UNAUTH_PATH: &str = "/e2e/unauthenticated";

#[derive(Debug, Default)]
pub struct LoadStats {
    pub valid_sent: AtomicU64,
    pub valid_ok: AtomicU64,
    pub valid_failed: AtomicU64,
    pub unauth_sent: AtomicU64,
    pub unauth_rejected: AtomicU64,
    /// 2xx: an unauthenticated request reached the app.
    pub unauth_forwarded: AtomicU64,
    /// Refused connections while a proxy restarts, and the like: neither a pass nor a leak.
    pub unauth_other: AtomicU64,
    /// The first failures: "door: status or error".
    pub failures: Mutex<Vec<String>>,
}

impl LoadStats {
    pub fn summary(&self) -> String {
        format!(
            "valid: {} sent, {} ok, {} failed; unauthenticated: {} sent, {} rejected, {} forwarded, {} other; first failures: {:?}",
            self.valid_sent.load(Ordering::Relaxed),
            self.valid_ok.load(Ordering::Relaxed),
            self.valid_failed.load(Ordering::Relaxed),
            self.unauth_sent.load(Ordering::Relaxed),
            self.unauth_rejected.load(Ordering::Relaxed),
            self.unauth_forwarded.load(Ordering::Relaxed),
            self.unauth_other.load(Ordering::Relaxed),
            self.failures.lock().unwrap()
        )
    }
}

#[derive(Debug)]
pub struct Load {
    pub stats: Arc<LoadStats>,
    direct: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    generators: JoinSet<()>,
}

impl Load {
    /// `rps` valid requests per second to each of `edge_urls`, and `rps` unauthenticated
    /// ones per second to the proxies in `direct` (round robin).
    pub fn start(edge_urls: Vec<String>, direct: Vec<SocketAddr>, rps: u32) -> Self {
        let stats = Arc::new(LoadStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let direct = Arc::new(Mutex::new(direct));
        let client: Client<HttpConnector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let mut generators = JoinSet::new();
        for url in edge_urls {
            let (client, stats, stop) = (client.clone(), stats.clone(), stop.clone());
            generators.spawn(every(rps, stop, move |n| {
                let (client, stats, url) = (client.clone(), stats.clone(), url.clone());
                async move {
                    stats.valid_sent.fetch_add(1, Ordering::Relaxed);
                    let uri = format!("{url}/e2e/valid?n={n}");
                    match status(&client, Request::get(&uri)).await {
                        Ok(s) if (200..300).contains(&s) => {
                            stats.valid_ok.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            stats.valid_failed.fetch_add(1, Ordering::Relaxed);
                            let mut f = stats.failures.lock().unwrap();
                            if f.len() < 20 {
                                f.push(format!("{uri}: {other:?}"));
                            }
                        }
                    }
                }
            }));
        }
        {
            let (client, stats, stop, direct) =
                (client.clone(), stats.clone(), stop.clone(), direct.clone());
            generators.spawn(every(rps, stop, move |n| {
                let (client, stats) = (client.clone(), stats.clone());
                let target = {
                    let d = direct.lock().unwrap();
                    (!d.is_empty()).then(|| d[n as usize % d.len()])
                };
                async move {
                    let Some(target) = target else { return };
                    stats.unauth_sent.fetch_add(1, Ordering::Relaxed);
                    let mut req = Request::get(format!("http://{target}{UNAUTH_PATH}?n={n}"));
                    // Half without the header, half with a wrong value.
                    if n % 2 == 1 {
                        req = req.header(HEADER, "wrong-value-0000000000000000000000000000000");
                    }
                    let counter = match status(&client, req).await {
                        Ok(403) => &stats.unauth_rejected,
                        Ok(s) if (200..300).contains(&s) => &stats.unauth_forwarded,
                        _ => &stats.unauth_other,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        Self {
            stats,
            direct,
            stop,
            generators,
        }
    }

    /// Replaces the proxies unauthenticated requests go to.
    pub fn set_direct(&self, direct: Vec<SocketAddr>) {
        *self.direct.lock().unwrap() = direct;
    }

    /// Stops sending and waits for the requests in flight (each is bounded).
    pub async fn stop(mut self) -> Arc<LoadStats> {
        self.stop.store(true, Ordering::Relaxed);
        while self.generators.join_next().await.is_some() {}
        self.stats
    }
}

/// Calls `send(n)` every 1/rps s until `stop`, each in its own task; then waits for them.
pub async fn every<F, Fut>(rps: u32, stop: Arc<AtomicBool>, send: F)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    if rps == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rps);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut inflight = JoinSet::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        inflight.spawn(send(n));
        n += 1;
        while inflight.try_join_next().is_some() {}
    }
    while inflight.join_next().await.is_some() {}
}

/// The answer's status (the body read to the end), within 10 s.
pub async fn status(
    client: &Client<HttpConnector, Empty<Bytes>>,
    req: http::request::Builder,
) -> Result<u16, String> {
    let exchange = async {
        let reply = client
            .request(req.body(Empty::new()).unwrap())
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = reply.status().as_u16();
        reply
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body failed: {e}"))?;
        Ok(status)
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
}

/// Records a test's totals for `scripts/test`'s end-of-run line (the sum over the e2e tests).
pub fn record(dir: &str, test: &str, stats: &LoadStats) {
    let dir = std::path::Path::new(dir).join("e2e-report");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{test}.txt")),
        format!(
            "{} {} {} {}\n",
            stats.valid_sent.load(Ordering::Relaxed),
            stats.valid_failed.load(Ordering::Relaxed),
            stats.unauth_sent.load(Ordering::Relaxed),
            stats.unauth_forwarded.load(Ordering::Relaxed)
        ),
    )
    .unwrap();
}
