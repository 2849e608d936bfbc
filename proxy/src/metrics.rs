//! The proxy's metrics: one prometheus-client registry, exported as OpenMetrics text on
//! `/metrics` and read by the EMF exporter ([`emf`]) for CloudWatch.
//!
//! Every series with a fixed label set is created here, at start, and its handle kept: an
//! update on the request path is a relaxed atomic add on a handle, never a label lookup
//! (a lookup takes the family's read lock and hashes the labels: 17 times the cost in
//! `benches/benches/metrics_cost.rs`). The duration histogram is this crate's own
//! ([`histogram`]): prometheus-client's takes a write lock per observation. The
//! accepted-value counters are created off the request path, when a set is loaded, and
//! handed to the snapshot ([`accepted`]).
//!
//! It observes what other modules decide and defines none of it: the listener kinds and
//! outcomes are the gate's, the upstream failure kinds the forwarder's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::auth::{AcceptCounts, Rejection};
use crate::edge::Edge;
use crate::forward::UpstreamFailure;
use crate::labels::{ListenerKind, Outcome};

pub mod accepted;
pub mod emf;
pub mod histogram;

pub use accepted::AcceptRegistry;
use histogram::Histogram;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    listener: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// Every metric the proxy exports: the registry, and a handle per series.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: [[Counter; Outcome::ALL.len()]; ListenerKind::ALL.len()],
    rejections: [Counter; Rejection::ALL.len()],
    /// The same rejections by reason and edge, for the EMF records only (the front door
    /// is a clue a client can forge: fine for a dashboard, not for a label of its own).
    rejections_by_edge: [[AtomicU64; Edge::ALL.len()]; Rejection::ALL.len()],
    /// Requests that found no accepted set loaded (refused with 503, or reported).
    nothing_loaded: AtomicU64,
    /// 1 enforcing, 0 report mode.
    enforcing: Gauge,
    upstream_errors: [Counter; UpstreamFailure::ALL.len()],
    durations: [Histogram; 2],
    /// success, error
    refresh: [Counter; 2],
    swaps: Counter,
    accepted_values: Gauge,
    last_refresh_success: Gauge,
    connections_open: [Gauge; 2],
    connections_total: [Counter; 2],
    connection_timeouts: [Counter; 2],
    /// Connections the HTTP/1.1 fast path handed to hyper.
    h1_handovers: [Counter; 2],
    /// success, error
    tls_reload: [Counter; 2],
    /// Accepted requests per (version id, label) and edge; written when a set loads.
    accepted: AcceptRegistry,
}

/// Where `item` is in its set's list of all values. Every value is listed (the test
/// `every_closed_label_set_lists_every_value` breaks when a variant is added and not
/// listed); were one not, it would be counted as the first rather than panic in a request.
fn index<T: PartialEq + Copy>(all: &[T], item: T) -> usize {
    let found = all.iter().position(|x| *x == item);
    debug_assert!(found.is_some(), "a label value missing from its ALL list");
    found.unwrap_or(0)
}

/// Registers a family and returns a handle for each label set, in order.
fn handles<S, M, const N: usize>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    labels: [S; N],
) -> [M; N]
where
    S: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    M: prometheus_client::metrics::TypedMetric
        + prometheus_client::encoding::EncodeMetric
        + Clone
        + Default
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let family = Family::<S, M>::default();
    let out = labels.map(|l| family.get_or_create(&l).clone());
    registry.register(name, help, family);
    out
}

impl Default for Metrics {
    fn default() -> Self {
        let mut r = Registry::default();
        let [_build]: [Gauge; 1] = handles(
            &mut r,
            "edgeguard_build_info",
            "Build information",
            [VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            }],
        );
        _build.set(1);
        let family = Family::<RequestLabels, Counter>::default();
        let requests = ListenerKind::ALL.map(|l| {
            Outcome::ALL.map(|o| {
                family
                    .get_or_create(&RequestLabels {
                        listener: l.as_str(),
                        outcome: o.as_str(),
                    })
                    .clone()
            })
        });
        r.register(
            "edgeguard_requests",
            "Requests by listener and outcome",
            family,
        );
        let rejections = handles(
            &mut r,
            "edgeguard_rejections",
            "Rejected requests (403) by reason",
            Rejection::ALL.map(|w| ReasonLabel { reason: w.as_str() }),
        );
        let enforcing = Gauge::default();
        enforcing.set(1);
        r.register(
            "edgeguard_enforcing",
            "1 when requests failing the header check are refused, 0 in report mode",
            enforcing.clone(),
        );
        let accepted = AcceptRegistry::default();
        r.register(
            "edgeguard_accepted_matches",
            "Accepted requests by the label of the value that matched (never the value)",
            accepted.by_label.clone(),
        );
        r.register(
            "edgeguard_accepted_requests",
            "Accepted requests by Secrets Manager version id (file/env for those sources), stage or label, and edge",
            accepted.by_version.clone(),
        );
        let listeners = || {
            ListenerKind::ALL.map(|l| ListenerLabel {
                listener: l.as_str(),
            })
        };
        let durations = handles(
            &mut r,
            "edgeguard_request_duration_seconds",
            "Time from request head to response head, by listener",
            listeners(),
        );
        let upstream_errors = handles(
            &mut r,
            "edgeguard_upstream_errors",
            "Failures to forward, by kind",
            UpstreamFailure::ALL.map(|k| KindLabel { kind: k.as_str() }),
        );
        let connections_open = handles(
            &mut r,
            "edgeguard_connections_open",
            "Open client connections",
            listeners(),
        );
        let connections_total = handles(
            &mut r,
            "edgeguard_connections",
            "Accepted client connections",
            listeners(),
        );
        let connection_timeouts = handles(
            &mut r,
            "edgeguard_connection_timeouts",
            "Connections closed by the idle or header-read timeout",
            listeners(),
        );
        let h1_handovers = handles(
            &mut r,
            "edgeguard_h1_handovers",
            "Client connections the HTTP/1.1 fast path handed to hyper at a request it does not serve",
            listeners(),
        );
        let results = || ["success", "error"].map(|result| ResultLabel { result });
        let tls_reload = handles(
            &mut r,
            "edgeguard_tls_reload",
            "Certificate reloads from disk, by result",
            results(),
        );
        let refresh = handles(
            &mut r,
            "edgeguard_secret_refresh",
            "Reads of the secret source",
            results(),
        );
        let swaps = Counter::default();
        r.register(
            "edgeguard_secret_swaps",
            "Times a new accepted set was swapped in",
            swaps.clone(),
        );
        let accepted_values = Gauge::default();
        r.register(
            "edgeguard_accepted_values",
            "Values in the accepted set (0: none loaded)",
            accepted_values.clone(),
        );
        let last_refresh_success = Gauge::default();
        r.register(
            "edgeguard_secret_last_success_timestamp_seconds",
            "Unix time of the last successful read of the secret source (0: never)",
            last_refresh_success.clone(),
        );
        Self {
            registry: r,
            requests,
            rejections,
            rejections_by_edge: Default::default(),
            nothing_loaded: AtomicU64::new(0),
            enforcing,
            upstream_errors,
            durations,
            refresh,
            swaps,
            accepted_values,
            last_refresh_success,
            connections_open,
            connections_total,
            connection_timeouts,
            h1_handovers,
            tls_reload,
            accepted,
        }
    }
}

impl Metrics {
    pub fn request(&self, listener: ListenerKind, outcome: Outcome, elapsed: Duration) {
        let l = index(&ListenerKind::ALL, listener);
        self.requests[l][index(&Outcome::ALL, outcome)].inc();
        self.durations[l].observe(elapsed);
    }

    /// A request that failed the header check, refused or (report mode) forwarded.
    pub fn rejection(&self, why: Rejection, edge: Edge) {
        let r = index(&Rejection::ALL, why);
        self.rejections[r].inc();
        self.rejections_by_edge[r][edge.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// A request that found no accepted set, refused or (report mode) forwarded.
    pub fn nothing_loaded(&self) {
        self.nothing_loaded.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_enforcing(&self, enforcing: bool) {
        self.enforcing.set(i64::from(enforcing));
    }

    pub fn is_enforcing(&self) -> bool {
        self.enforcing.get() == 1
    }

    pub fn upstream_error(&self, kind: UpstreamFailure) {
        self.upstream_errors[index(&UpstreamFailure::ALL, kind)].inc();
    }

    pub fn connection_opened(&self, listener: ListenerKind) {
        let l = index(&ListenerKind::ALL, listener);
        self.connections_open[l].inc();
        self.connections_total[l].inc();
    }

    pub fn connection_closed(&self, listener: ListenerKind) {
        self.connections_open[index(&ListenerKind::ALL, listener)].dec();
    }

    pub fn connection_timed_out(&self, listener: ListenerKind) {
        self.connection_timeouts[index(&ListenerKind::ALL, listener)].inc();
    }

    /// The fast path handed a connection to hyper (`h1`).
    pub fn h1_handover(&self, listener: ListenerKind) {
        self.h1_handovers[index(&ListenerKind::ALL, listener)].inc();
    }

    pub fn tls_reloaded(&self, ok: bool) {
        self.tls_reload[usize::from(!ok)].inc();
    }

    pub fn refresh_failed(&self) {
        self.refresh[1].inc();
    }

    /// A refresh that read the source; `swapped` when the accepted set changed.
    pub fn refresh_succeeded(&self, accepted_values: usize, swapped: bool) {
        self.refresh[0].inc();
        if swapped {
            self.swaps.inc();
        }
        self.accepted_values
            .set(i64::try_from(accepted_values).unwrap_or(i64::MAX));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.last_refresh_success
            .set(i64::try_from(now.as_secs()).unwrap_or(i64::MAX));
    }

    /// The counters for an accepted value (its version id and label); the same ones on
    /// every call, so counts carry over when a refresh swaps in a new set.
    pub fn accept_counts(&self, version_id: &str, label: &str) -> Arc<AcceptCounts> {
        self.accepted.counts(version_id, label)
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8192);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn accepted_snapshot(&self) -> Vec<(accepted::AcceptKey, Arc<AcceptCounts>)> {
        self.accepted.snapshot()
    }

    /// Requests that failed the check so far, by reason and edge (for the EMF exporter).
    pub fn rejections_by_edge(&self) -> Vec<(Rejection, Edge, u64)> {
        let mut out = Vec::with_capacity(Rejection::ALL.len() * Edge::ALL.len());
        for why in Rejection::ALL {
            for edge in Edge::ALL {
                let n = self.rejections_by_edge[index(&Rejection::ALL, why)][edge.index()]
                    .load(Ordering::Relaxed);
                out.push((why, edge, n));
            }
        }
        out
    }

    /// Requests that found no accepted set loaded so far, on either listener.
    pub fn nothing_loaded_total(&self) -> u64 {
        self.nothing_loaded.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::Edge;
    use crate::well_formed::Malformed;

    /// Each closed label set's `ALL` lists every variant once. The matches are exhaustive:
    /// adding a variant stops this test compiling until it is counted here, and the count
    /// then fails until the variant is in `ALL`.
    #[test]
    fn every_closed_label_set_lists_every_value() {
        fn once<T: PartialEq + Copy + std::fmt::Debug>(all: &[T], variants: usize) {
            assert_eq!(all.len(), variants, "{all:?}");
            for (i, v) in all.iter().enumerate() {
                assert_eq!(index(all, *v), i, "{v:?} listed twice");
            }
        }
        let listener = |l: ListenerKind| match l {
            ListenerKind::Enforcing | ListenerKind::Internal => (),
        };
        let outcome = |o: Outcome| match o {
            Outcome::Accepted
            | Outcome::Rejected
            | Outcome::Bypass
            | Outcome::Unavailable
            | Outcome::Malformed
            | Outcome::Reported => (),
        };
        let rejection = |r: Rejection| match r {
            Rejection::Missing | Rejection::Duplicate | Rejection::Mismatch => (),
        };
        let failure = |f: UpstreamFailure| match f {
            UpstreamFailure::Connect
            | UpstreamFailure::Timeout
            | UpstreamFailure::Other
            | UpstreamFailure::Malformed => (),
        };
        let edge = |e: Edge| match e {
            Edge::CloudFront | Edge::ApiGateway | Edge::Other => (),
        };
        let malformed = |m: Malformed| match m {
            Malformed::NoHost
            | Malformed::ManyHosts
            | Malformed::BadHost
            | Malformed::BadTarget
            | Malformed::RepeatedLength
            | Malformed::TransferCoding
            | Malformed::Connect => (),
        };
        ListenerKind::ALL.into_iter().for_each(listener);
        Outcome::ALL.into_iter().for_each(outcome);
        Rejection::ALL.into_iter().for_each(rejection);
        UpstreamFailure::ALL.into_iter().for_each(failure);
        Edge::ALL.into_iter().for_each(edge);
        Malformed::ALL.into_iter().for_each(malformed);
        once(&ListenerKind::ALL, 2);
        once(&Outcome::ALL, 6);
        once(&Rejection::ALL, 3);
        once(&UpstreamFailure::ALL, 4);
        once(&Edge::ALL, 3);
        once(&Malformed::ALL, 7);
    }

    #[test]
    fn histogram_is_cumulative_and_counts_every_observation() {
        let m = Metrics::default();
        m.request(
            ListenerKind::Enforcing,
            Outcome::Accepted,
            Duration::from_micros(300),
        );
        m.request(
            ListenerKind::Enforcing,
            Outcome::Rejected,
            Duration::from_millis(3),
        );
        m.request(
            ListenerKind::Enforcing,
            Outcome::Accepted,
            Duration::from_secs(100),
        );
        let text = m.render();
        for line in [
            "edgeguard_request_duration_seconds_bucket{le=\"0.0005\",listener=\"enforcing\"} 1",
            "edgeguard_request_duration_seconds_bucket{le=\"0.005\",listener=\"enforcing\"} 2",
            "edgeguard_request_duration_seconds_bucket{le=\"60.0\",listener=\"enforcing\"} 2",
            "edgeguard_request_duration_seconds_bucket{le=\"+Inf\",listener=\"enforcing\"} 3",
            "edgeguard_request_duration_seconds_sum{listener=\"enforcing\"} 100.0033",
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
        // Every edge of a loaded value is a series, zero included.
        assert!(
            text.contains("stage=\"pending\",edge=\"apigateway\"} 0"),
            "{text}"
        );
        assert!(
            text.ends_with("# EOF\n"),
            "OpenMetrics text ends with # EOF"
        );
    }

    /// The metrics table of docs/proxy.md, as (family, the row's text).
    fn documented() -> Vec<(String, String)> {
        include_str!("../../docs/proxy.md")
            .lines()
            .filter_map(|l| {
                let name = l.strip_prefix("| `")?.split(['{', '`']).next()?;
                name.starts_with("edgeguard_")
                    .then(|| (name.to_owned(), l.to_owned()))
            })
            .collect()
    }

    #[test]
    fn the_documented_families_and_the_rendered_ones_are_the_same() {
        let m = Metrics::default();
        // The accepted-value families have series once a value is loaded.
        m.accept_counts("v1", "current");
        let text = m.render();
        let documented = documented();
        assert!(
            documented.len() >= 10,
            "docs/proxy.md's metrics table not found"
        );
        for (family, _) in &documented {
            // prometheus-client's TYPE lines name counter families without `_total`.
            let declared = format!("# TYPE {} ", family.trim_end_matches("_total"));
            assert!(
                text.lines().any(|l| l.starts_with(&declared))
                    && text
                        .lines()
                        .any(|l| !l.starts_with('#') && l.starts_with(family.as_str())),
                "{family} is documented but not rendered\n{text}"
            );
        }
        for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let family = line.split(' ').next().unwrap_or("");
            assert!(
                documented
                    .iter()
                    .any(|(d, _)| d.trim_end_matches("_total") == family),
                "{family} is rendered but not in docs/proxy.md's table"
            );
        }
        // Every value of the closed label sets is named in its family's row.
        let named = |family: &str, values: &[&str]| {
            let (_, row) = documented.iter().find(|(d, _)| d == family).expect(family);
            for value in values {
                assert!(
                    row.contains(&format!("`{value}`")),
                    "{family}: {value} undocumented"
                );
            }
        };
        named(
            "edgeguard_requests_total",
            &Outcome::ALL.map(Outcome::as_str),
        );
        named(
            "edgeguard_rejections_total",
            &Rejection::ALL.map(Rejection::as_str),
        );
        named(
            "edgeguard_upstream_errors_total",
            &UpstreamFailure::ALL.map(UpstreamFailure::as_str),
        );
    }
}
