//! The Prometheus text exposition of [`Metrics`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::{BUCKETS, Listener, Metrics, Outcome, UpstreamFailure};
use crate::auth::Rejection;
use crate::edge::Edge;

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let w = &mut out;
        header(w, "edgeguard_build_info", "gauge", "Build information.");
        let _ = writeln!(
            w,
            "edgeguard_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );

        header(
            w,
            "edgeguard_requests_total",
            "counter",
            "Requests by listener and outcome.",
        );
        for (l, listener) in Listener::ALL.iter().enumerate() {
            for (o, outcome) in Outcome::ALL.iter().enumerate() {
                let _ = writeln!(
                    w,
                    "edgeguard_requests_total{{listener=\"{}\",outcome=\"{}\"}} {}",
                    listener.as_str(),
                    outcome.as_str(),
                    self.requests[l][o].load(Relaxed)
                );
            }
        }

        header(
            w,
            "edgeguard_rejections_total",
            "counter",
            "Rejected requests (403) by reason.",
        );
        for (i, why) in Rejection::ALL.iter().enumerate() {
            let _ = writeln!(
                w,
                "edgeguard_rejections_total{{reason=\"{}\"}} {}",
                why.as_str(),
                self.rejections[i].load(Relaxed)
            );
        }

        header(
            w,
            "edgeguard_accepted_matches_total",
            "counter",
            "Accepted requests by the label of the value that matched (never the value).",
        );
        let accepted = self.accepted_snapshot();
        let mut by_label: BTreeMap<&str, u64> = BTreeMap::new();
        for ((_, label), counts) in &accepted {
            *by_label.entry(label).or_default() += counts.total();
        }
        for (label, total) in by_label {
            let _ = writeln!(
                w,
                "edgeguard_accepted_matches_total{{accepted=\"{}\"}} {total}",
                escape(label)
            );
        }

        header(
            w,
            "edgeguard_accepted_requests_total",
            "counter",
            "Accepted requests by Secrets Manager version id (file/env for those sources), \
             stage or label, and edge (only edges seen).",
        );
        for ((version_id, stage), counts) in &accepted {
            for edge in Edge::ALL {
                let n = counts.get(edge);
                if n > 0 {
                    let _ = writeln!(
                        w,
                        "edgeguard_accepted_requests_total{{version_id=\"{}\",stage=\"{}\",edge=\"{}\"}} {n}",
                        escape(version_id),
                        escape(stage),
                        edge.as_str()
                    );
                }
            }
        }

        header(
            w,
            "edgeguard_request_duration_seconds",
            "histogram",
            "Time from request head to response head, by listener.",
        );
        for (l, listener) in Listener::ALL.iter().enumerate() {
            let h = &self.durations[l];
            let name = listener.as_str();
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Relaxed);
                let _ = writeln!(
                    w,
                    "edgeguard_request_duration_seconds_bucket{{listener=\"{name}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += h.buckets[BUCKETS.len()].load(Relaxed);
            let _ = writeln!(
                w,
                "edgeguard_request_duration_seconds_bucket{{listener=\"{name}\",le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                w,
                "edgeguard_request_duration_seconds_sum{{listener=\"{name}\"}} {}",
                h.sum_micros.load(Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                w,
                "edgeguard_request_duration_seconds_count{{listener=\"{name}\"}} {cumulative}"
            );
        }

        header(
            w,
            "edgeguard_upstream_errors_total",
            "counter",
            "Failures to forward, by kind.",
        );
        for (i, kind) in UpstreamFailure::ALL.iter().enumerate() {
            let _ = writeln!(
                w,
                "edgeguard_upstream_errors_total{{kind=\"{}\"}} {}",
                kind.as_str(),
                self.upstream_errors[i].load(Relaxed)
            );
        }

        header(
            w,
            "edgeguard_connections_open",
            "gauge",
            "Open client connections.",
        );
        per_listener(w, "edgeguard_connections_open", &self.connections_open);
        header(
            w,
            "edgeguard_connections_total",
            "counter",
            "Accepted client connections.",
        );
        per_listener(w, "edgeguard_connections_total", &self.connections_total);
        header(
            w,
            "edgeguard_connection_timeouts_total",
            "counter",
            "Connections closed by the idle or header-read timeout.",
        );
        per_listener(
            w,
            "edgeguard_connection_timeouts_total",
            &self.connection_timeouts,
        );

        header(
            w,
            "edgeguard_tls_reload_total",
            "counter",
            "Certificate reloads from disk, by result.",
        );
        let _ = writeln!(
            w,
            "edgeguard_tls_reload_total{{result=\"success\"}} {}",
            self.tls_reload_success.load(Relaxed)
        );
        let _ = writeln!(
            w,
            "edgeguard_tls_reload_total{{result=\"error\"}} {}",
            self.tls_reload_error.load(Relaxed)
        );
        header(
            w,
            "edgeguard_secret_refresh_total",
            "counter",
            "Reads of the secret source.",
        );
        let _ = writeln!(
            w,
            "edgeguard_secret_refresh_total{{result=\"success\"}} {}",
            self.refresh_success.load(Relaxed)
        );
        let _ = writeln!(
            w,
            "edgeguard_secret_refresh_total{{result=\"error\"}} {}",
            self.refresh_error.load(Relaxed)
        );
        header(
            w,
            "edgeguard_secret_swaps_total",
            "counter",
            "Times a new accepted set was swapped in.",
        );
        let _ = writeln!(
            w,
            "edgeguard_secret_swaps_total {}",
            self.swaps.load(Relaxed)
        );
        header(
            w,
            "edgeguard_accepted_values",
            "gauge",
            "Values in the accepted set (0: none loaded).",
        );
        let _ = writeln!(
            w,
            "edgeguard_accepted_values {}",
            self.accepted_values.load(Relaxed)
        );
        header(
            w,
            "edgeguard_secret_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful read of the secret source (0: never).",
        );
        let _ = writeln!(
            w,
            "edgeguard_secret_last_success_timestamp_seconds {}",
            self.last_refresh_success.load(Relaxed)
        );
        out
    }
}

/// A label value as the text format requires: backslash, quote and newline escaped. A
/// version id is a client request token (any printable text), so it is escaped too.
fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains(['\\', '"', '\n']) {
        value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .into()
    } else {
        value.into()
    }
}

fn header(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn per_listener(w: &mut String, name: &str, values: &[AtomicU64; 2]) {
    for (l, listener) in Listener::ALL.iter().enumerate() {
        let _ = writeln!(
            w,
            "{name}{{listener=\"{}\"}} {}",
            listener.as_str(),
            values[l].load(Relaxed)
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::escape("plain-id"), "plain-id");
        assert_eq!(super::escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
