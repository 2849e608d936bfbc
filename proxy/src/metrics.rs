//! Counters for `/metrics`, in the Prometheus text format.
//!
//! Hand-written on purpose: every update on the request path is one relaxed atomic add.
//! `prometheus-client` takes a lock per histogram observation and per label-family
//! lookup, which the hot path must not do. Labels are fixed enums, except the
//! accepted-value labels, whose counters are created off the request path (when a set is
//! loaded) and handed to the snapshot.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::auth::Rejection;

pub mod accepted;
pub mod emf;
mod render;

pub use accepted::{AcceptCounts, AcceptRegistry};

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Requires the header (public ALB's target group).
    Enforcing,
    /// Does not (internal ALB, split-horizon DNS).
    Internal,
}

/// What the proxy did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The header matched an accepted value.
    Accepted,
    /// 403: the header was missing, repeated or wrong.
    Rejected,
    /// Forwarded without a check: a health path, or any request on the internal listener.
    Bypass,
    /// 503: no accepted set is loaded yet (fail closed).
    Unavailable,
}

/// Why forwarding to the upstream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// Could not connect (502).
    Connect,
    /// No response head within `--upstream-timeout` (504).
    Timeout,
    /// The connection broke or the response was malformed (502).
    Other,
}

impl Listener {
    const ALL: [Self; 2] = [Self::Enforcing, Self::Internal];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforcing => "enforcing",
            Self::Internal => "internal",
        }
    }
}

impl Outcome {
    const ALL: [Self; 4] = [
        Self::Accepted,
        Self::Rejected,
        Self::Bypass,
        Self::Unavailable,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Bypass => "bypass",
            Self::Unavailable => "unavailable",
        }
    }
}

impl UpstreamFailure {
    const ALL: [Self; 3] = [Self::Connect, Self::Timeout, Self::Other];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }
}

/// Upper bounds (seconds) of the request-duration histogram buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// A lock-free histogram: one atomic per bucket (not cumulative; summed when rendered).
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros().min(u64::MAX as u128) as u64, Relaxed);
    }
}

/// Every metric the proxy exports.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [[AtomicU64; 4]; 2],
    rejections: [AtomicU64; 3],
    upstream_errors: [AtomicU64; 3],
    durations: [Histogram; 2],
    refresh_success: AtomicU64,
    refresh_error: AtomicU64,
    swaps: AtomicU64,
    accepted_values: AtomicU64,
    last_refresh_success: AtomicU64,
    connections_open: [AtomicU64; 2],
    connections_total: [AtomicU64; 2],
    connection_timeouts: [AtomicU64; 2],
    tls_reload_success: AtomicU64,
    tls_reload_error: AtomicU64,
    /// Accepted requests per (version id, label) and edge; written when a set loads.
    accepted: AcceptRegistry,
}

fn index<T: PartialEq + Copy>(all: &[T], item: T) -> usize {
    all.iter().position(|x| *x == item).unwrap_or(0)
}

impl Metrics {
    pub fn request(&self, listener: Listener, outcome: Outcome, elapsed: Duration) {
        let l = index(&Listener::ALL, listener);
        self.requests[l][index(&Outcome::ALL, outcome)].fetch_add(1, Relaxed);
        self.durations[l].observe(elapsed);
    }

    pub fn rejection(&self, why: Rejection) {
        self.rejections[index(&Rejection::ALL, why)].fetch_add(1, Relaxed);
    }

    pub fn upstream_error(&self, kind: UpstreamFailure) {
        self.upstream_errors[index(&UpstreamFailure::ALL, kind)].fetch_add(1, Relaxed);
    }

    pub fn connection_opened(&self, listener: Listener) {
        let l = index(&Listener::ALL, listener);
        self.connections_open[l].fetch_add(1, Relaxed);
        self.connections_total[l].fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self, listener: Listener) {
        self.connections_open[index(&Listener::ALL, listener)].fetch_sub(1, Relaxed);
    }

    pub fn connection_timed_out(&self, listener: Listener) {
        self.connection_timeouts[index(&Listener::ALL, listener)].fetch_add(1, Relaxed);
    }

    pub fn tls_reloaded(&self, ok: bool) {
        let counter = if ok {
            &self.tls_reload_success
        } else {
            &self.tls_reload_error
        };
        counter.fetch_add(1, Relaxed);
    }

    pub fn refresh_failed(&self) {
        self.refresh_error.fetch_add(1, Relaxed);
    }

    /// A refresh that read the source; `swapped` when the accepted set changed.
    pub fn refresh_succeeded(&self, accepted_values: usize, swapped: bool) {
        self.refresh_success.fetch_add(1, Relaxed);
        if swapped {
            self.swaps.fetch_add(1, Relaxed);
        }
        self.accepted_values.store(accepted_values as u64, Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.last_refresh_success.store(now.as_secs(), Relaxed);
    }

    /// The counters for an accepted value (its version id and label); the same ones on
    /// every call, so counts carry over when a refresh swaps in a new set.
    pub fn accept_counts(&self, version_id: &str, label: &str) -> Arc<AcceptCounts> {
        self.accepted.counts(version_id, label)
    }

    pub fn accepted_snapshot(&self) -> Vec<(accepted::AcceptKey, Arc<AcceptCounts>)> {
        self.accepted.snapshot()
    }

    /// Rejections by reason so far (for the EMF exporter).
    pub fn rejections_by_reason(&self) -> [(Rejection, u64); 3] {
        Rejection::ALL.map(|why| {
            (
                why,
                self.rejections[index(&Rejection::ALL, why)].load(Relaxed),
            )
        })
    }

    /// Requests refused with 503 because no accepted set is loaded, on either listener.
    pub fn unavailable(&self) -> u64 {
        let o = index(&Outcome::ALL, Outcome::Unavailable);
        self.requests.iter().map(|l| l[o].load(Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_every_observation() {
        let m = Metrics::default();
        m.request(
            Listener::Enforcing,
            Outcome::Accepted,
            Duration::from_micros(300),
        );
        m.request(
            Listener::Enforcing,
            Outcome::Rejected,
            Duration::from_millis(3),
        );
        m.request(
            Listener::Enforcing,
            Outcome::Accepted,
            Duration::from_secs(100),
        );
        let text = m.render();
        for line in [
            "edgeguard_request_duration_seconds_bucket{listener=\"enforcing\",le=\"0.0005\"} 1",
            "edgeguard_request_duration_seconds_bucket{listener=\"enforcing\",le=\"0.005\"} 2",
            "edgeguard_request_duration_seconds_bucket{listener=\"enforcing\",le=\"60\"} 2",
            "edgeguard_request_duration_seconds_bucket{listener=\"enforcing\",le=\"+Inf\"} 3",
            "edgeguard_request_duration_seconds_count{listener=\"enforcing\"} 3",
            "edgeguard_requests_total{listener=\"enforcing\",outcome=\"accepted\"} 2",
            "edgeguard_requests_total{listener=\"enforcing\",outcome=\"rejected\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }

    #[test]
    fn accept_counts_survive_a_new_set_and_render_per_version_and_per_label() {
        use crate::edge::Edge;
        let m = Metrics::default();
        m.accept_counts("v1", "current").record(Edge::Other);
        m.accept_counts("v1", "current").record(Edge::CloudFront);
        m.accept_counts("v1", "current").record(Edge::CloudFront);
        // v2 moves from pending to current: one label, two versions.
        m.accept_counts("v2", "pending").record(Edge::Other);
        m.accept_counts("v0", "previous").record(Edge::ApiGateway);
        let text = m.render();
        for line in [
            "edgeguard_accepted_matches_total{accepted=\"current\"} 3",
            "edgeguard_accepted_matches_total{accepted=\"pending\"} 1",
            "edgeguard_accepted_requests_total{version_id=\"v1\",stage=\"current\",edge=\"cloudfront\"} 2",
            "edgeguard_accepted_requests_total{version_id=\"v1\",stage=\"current\",edge=\"other\"} 1",
            "edgeguard_accepted_requests_total{version_id=\"v0\",stage=\"previous\",edge=\"apigateway\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        assert!(
            !text.contains("edge=\"apigateway\"} 0"),
            "zero edges are not rendered\n{text}"
        );
    }

    #[test]
    fn every_documented_family_is_rendered() {
        let text = Metrics::default().render();
        for family in [
            "edgeguard_build_info",
            "edgeguard_requests_total",
            "edgeguard_rejections_total",
            "edgeguard_accepted_matches_total",
            "edgeguard_accepted_requests_total",
            "edgeguard_request_duration_seconds",
            "edgeguard_upstream_errors_total",
            "edgeguard_connections_open",
            "edgeguard_connections_total",
            "edgeguard_connection_timeouts_total",
            "edgeguard_tls_reload_total",
            "edgeguard_secret_refresh_total",
            "edgeguard_secret_swaps_total",
            "edgeguard_accepted_values",
            "edgeguard_secret_last_success_timestamp_seconds",
        ] {
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family} not rendered"
            );
        }
    }
}
