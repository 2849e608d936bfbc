//! The end-to-end stage for rotations under load: the emulator's world, an upstream, two
//! proxies reading the secret from the emulator, the edge twin in front of them, and a
//! load generator through the twin (valid) and straight at the proxies (unauthenticated).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::edge::{DOORS, EdgeOptions, EdgeTwin};
use crate::load::{Load, LoadStats, UNAUTH_PATH};
use crate::proxy::{Builder, Proxy};
use crate::upstream::Upstream;
use crate::world::{HEADER, SECRET, World};
use crate::{client, secret_like};

/// Compressed, with the same logic: the acceptors' settle covers two 1 s proxy refreshes
/// (±10 %) plus the WAF twin's propagation and polling; the window covers the edge
/// locations' propagation.
pub const TIMING: &str = r#"
[timing]
acceptor_settle = "3s"
dual_accept_window = "2s"
cloudfront_deploy_timeout = "20s"
"#;

/// Valid requests per second per front door, and unauthenticated ones at the proxies.
pub const RPS: u32 = 10;

#[derive(Debug)]
pub struct Stage {
    pub world: Arc<World>,
    pub upstream: Upstream,
    pub proxies: Vec<Proxy>,
    pub edge: EdgeTwin,
    pub load: Option<Load>,
    /// Where the proxies (and, when a test says so, the CLI) reach the emulator.
    pub endpoint: String,
}

impl Stage {
    /// Everything started, the load running. `endpoint` overrides where the proxies reach
    /// the emulator (a gate); None: directly.
    pub async fn start(endpoint: Option<String>) -> Self {
        let world = Arc::new(World::create_with(&secret_like('0'), TIMING).await);
        Self::start_in(world, endpoint).await
    }

    /// As `start`, in a world already created (to put a gate in front of its emulator).
    pub async fn start_in(world: Arc<World>, endpoint: Option<String>) -> Self {
        Self::start_with(world, endpoint, &[]).await
    }

    /// As `start_in`, with more flags for the proxies (`--emf stdout`, …).
    pub async fn start_with(
        world: Arc<World>,
        endpoint: Option<String>,
        proxy_args: &[(&str, &str)],
    ) -> Self {
        let endpoint = endpoint.unwrap_or_else(|| world.moto.endpoint());
        let upstream = Upstream::start().await;
        let mut proxies = Vec::new();
        for _ in 0..2 {
            proxies.push(start_proxy_with(&world, &upstream, &endpoint, proxy_args).await);
        }
        let edge = EdgeTwin::start(
            world.clone(),
            proxies.iter().map(Proxy::enforcing).collect(),
            EdgeOptions::default(),
        )
        .await;
        let load = Load::start(
            DOORS.iter().map(|d| edge.url(d)).collect(),
            proxies.iter().map(Proxy::enforcing).collect(),
            RPS,
        );
        Self {
            world,
            upstream,
            proxies,
            edge,
            load: Some(load),
            endpoint,
        }
    }

    /// Writes the sync configuration with a probe through each front door and a direct
    /// probe at each proxy (what `drill` needs).
    pub fn configure_probes(&self) {
        let mut config = self.world.toml(TIMING);
        for door in DOORS {
            config.push_str(&format!(
                "\n[[probe]]\nurl = \"{}/drill\"\n",
                self.edge.url(door)
            ));
        }
        for proxy in &self.proxies {
            config.push_str(&format!(
                "\n[[probe]]\nurl = \"http://{}/drill\"\ndirect = true\n",
                proxy.enforcing()
            ));
        }
        std::fs::write(&self.world.config, config).unwrap();
    }

    pub fn targets(&self) -> Vec<SocketAddr> {
        self.proxies.iter().map(Proxy::enforcing).collect()
    }

    /// Stops the load and checks the promise: no valid request failed, no unauthenticated
    /// one was forwarded, the upstream never saw the header. Records the totals for the
    /// end-of-run line, under `test`, in `tmp` (the test's CARGO_TARGET_TMPDIR).
    pub async fn finish(&mut self, tmp: &str, test: &str) -> Arc<LoadStats> {
        let stats = self.load.take().expect("load running").stop().await;
        crate::load::record(tmp, test, &stats);
        let summary = stats.summary();
        println!("{test}: {summary}");
        use std::sync::atomic::Ordering::Relaxed;
        assert!(stats.valid_sent.load(Relaxed) > 0, "{summary}");
        assert_eq!(stats.valid_failed.load(Relaxed), 0, "{summary}");
        assert!(stats.unauth_sent.load(Relaxed) > 0, "{summary}");
        assert_eq!(stats.unauth_forwarded.load(Relaxed), 0, "{summary}");
        let seen = self.upstream.seen();
        assert!(
            seen.iter().all(|s| !s.headers.contains_key(HEADER)),
            "the upstream saw the header"
        );
        assert!(
            seen.iter()
                .all(|s| !s.path_and_query.starts_with(UNAUTH_PATH)),
            "an unauthenticated request reached the upstream"
        );
        assert_eq!(
            self.edge.stats.poll_errors.load(Relaxed),
            0,
            "the edge twin could not read the emulator"
        );
        stats
    }
}

/// A proxy reading the secret from the emulator at `endpoint`, refreshing every second.
pub async fn start_proxy(world: &World, upstream: &Upstream, endpoint: &str) -> Proxy {
    start_proxy_with(world, upstream, endpoint, &[]).await
}

/// As `start_proxy`, with more flags.
pub async fn start_proxy_with(
    world: &World,
    upstream: &Upstream,
    endpoint: &str,
    args: &[(&str, &str)],
) -> Proxy {
    let mut builder = Builder::new(&format!("secretsmanager:{SECRET}"))
        .arg("--upstream", &upstream.url())
        .arg("--refresh-interval", "1s");
    for (flag, value) in args {
        builder = builder.arg(flag, value);
    }
    let proxy = builder
        .envs(&world.moto.sdk_env())
        .env("AWS_ENDPOINT_URL", endpoint)
        .spawn()
        .await;
    proxy.wait_ready().await;
    proxy
}

/// The proxy's `edgeguard_accepted_matches_total` by label: current, pending, previous.
pub async fn matches(admin: SocketAddr) -> [f64; 3] {
    let text = client::get(admin, "/metrics", &[]).await.text();
    let mut out = [0.0; 3];
    for (i, label) in ["current", "pending", "previous"].iter().enumerate() {
        let series = format!("edgeguard_accepted_matches_total{{accepted=\"{label}\"}} ");
        out[i] = text
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
    }
    out
}

/// Label indexes into [`matches`].
pub const CURRENT: usize = 0;
pub const PENDING: usize = 1;
pub const PREVIOUS: usize = 2;

impl Stage {
    /// Each proxy's per-stage counters, now.
    pub async fn counters(&self) -> Vec<[f64; 3]> {
        let mut out = Vec::new();
        for p in &self.proxies {
            out.push(matches(p.admin()).await);
        }
        out
    }

    /// Polls until every proxy has admitted more requests under `label` than in `since`
    /// (valid traffic carrying that stage's value has reached each of them).
    pub async fn wait_counted(&self, label: usize, since: &[[f64; 3]], what: &str) {
        crate::poll(Duration::from_secs(30), what, || async {
            let now = self.counters().await;
            now.iter()
                .zip(since)
                .all(|(n, s)| n[label] > s[label])
                .then_some(())
        })
        .await;
    }

    /// Polls until every proxy accepts exactly `n` values (after prune: 1).
    pub async fn wait_accepted_values(&self, n: usize) {
        crate::poll(
            Duration::from_secs(30),
            "the proxies to refresh",
            || async {
                let mut all = true;
                for p in &self.proxies {
                    all &= p.metric("edgeguard_accepted_values").await == n as f64;
                }
                all.then_some(())
            },
        )
        .await;
    }

    /// Polls until every edge location of `door` sends `value`.
    pub async fn wait_edge_sends(&self, door: usize, value: &str) {
        let locations = EdgeOptions::default().locations;
        crate::poll(
            Duration::from_secs(30),
            "the edge locations to adopt",
            || async {
                (0..locations)
                    .all(|l| self.edge.sends(door, l).0.as_deref() == Some(value))
                    .then_some(())
            },
        )
        .await;
    }
}
