//! What the soak measures of each proxy every 10 s: resident memory, open file descriptors,
//! threads, connections open (one task each), the p99 latency of valid requests in the
//! window, and whether the admin endpoints answer. Also the fitted slope used to call a
//! leak, and the report's table.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::client;
use crate::soak::traffic::Door;

/// A proxy process to sample.
#[derive(Debug, Clone)]
pub struct Watched {
    pub door: Arc<Door>,
    pub pid: i32,
    pub admin: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds since the load started.
    pub at: f64,
    pub door: &'static str,
    pub rss_kib: u64,
    pub fds: u64,
    pub threads: u64,
    pub connections_open: u64,
    pub p99_ms: Option<f64>,
    pub valid_ok: u64,
    pub invalid_rejected: u64,
    /// `/ready` answered 200 and `/metrics` answered, each within 2 s.
    pub admin_ok: bool,
}

impl Sample {
    /// The figures as the table shows them: time, proxy, RSS MiB, fds, threads, connections
    /// open, p99 ms, valid answered 200 so far.
    pub fn cells(&self) -> [String; 8] {
        [
            clock(self.at),
            self.door.to_string(),
            format!("{:.1}", self.rss_kib as f64 / 1024.0),
            self.fds.to_string(),
            self.threads.to_string(),
            self.connections_open.to_string(),
            self.p99_ms.map_or("-".into(), |p| format!("{p:.2}")),
            self.valid_ok.to_string(),
        ]
    }
}

/// `VmRSS` (KiB) and `Threads` from /proc/PID/status.
fn proc_status(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("Threads:"))
}

fn fd_count(pid: i32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// The sum of a metric's series (every label set) in a Prometheus text page.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `/metrics` within 2 s.
pub async fn metrics(admin: SocketAddr) -> Option<String> {
    let reply = tokio::time::timeout(Duration::from_secs(2), client::get(admin, "/metrics", &[]));
    let reply = reply.await.ok()?;
    (reply.status == 200).then(|| reply.text())
}

pub async fn take(w: &Watched, at: f64) -> Sample {
    let (rss_kib, threads) = proc_status(w.pid);
    let ready = tokio::time::timeout(Duration::from_secs(2), client::get(w.admin, "/ready", &[]));
    let ready = matches!(ready.await, Ok(r) if r.status == 200);
    let text = metrics(w.admin).await;
    let s = &w.door.stats;
    Sample {
        at,
        door: w.door.name,
        rss_kib,
        fds: fd_count(w.pid),
        threads,
        connections_open: text
            .as_deref()
            .map_or(0.0, |t| metric_sum(t, "edgeguard_connections_open"))
            as u64,
        p99_ms: s.take_p99_ms(),
        valid_ok: s.valid_ok.load(Relaxed),
        invalid_rejected: s.invalid_rejected.load(Relaxed),
        admin_ok: ready && text.is_some(),
    }
}

/// The least-squares slope of `y` over `x`, per unit of `x`; None with fewer than 3 points.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    (den > 0.0).then(|| num / den)
}

/// A Markdown table of at most about `rows` samples per door (evenly spaced, the last
/// always in).
pub fn table(samples: &[Sample], rows: usize) -> String {
    let mut out = String::from(
        "| time | proxy | RSS MiB | fds | threads | connections open | p99 ms (10 s window) | valid 200 so far |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut doors: Vec<&str> = samples.iter().map(|s| s.door).collect();
    doors.dedup();
    doors.sort_unstable();
    doors.dedup();
    for door in doors {
        let of: Vec<&Sample> = samples.iter().filter(|s| s.door == door).collect();
        let step = of.len().div_ceil(rows.max(1)).max(1);
        for (i, s) in of.iter().enumerate() {
            if i % step != 0 && i + 1 != of.len() {
                continue;
            }
            out.push_str(&format!("| {} |\n", s.cells().join(" | ")));
        }
    }
    out
}

/// `mm:ss`.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{:02}:{:02}", s / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_and_of_a_flat_series() {
        let line: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 3.0 * f64::from(i) + 1.0))
            .collect();
        assert!((slope(&line).unwrap() - 3.0).abs() < 1e-9);
        let flat: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 7.0)).collect();
        assert!(slope(&flat).unwrap().abs() < 1e-9);
        assert_eq!(slope(&line[..2]), None);
    }

    #[test]
    fn metric_sum_adds_every_label_set_of_one_name_only() {
        let text = "edgeguard_connections_open{listener=\"enforcing\"} 5\nedgeguard_connections_open{listener=\"internal\"} 2\nedgeguard_connections_opened 9\n";
        assert_eq!(metric_sum(text, "edgeguard_connections_open"), 7.0);
    }
}
