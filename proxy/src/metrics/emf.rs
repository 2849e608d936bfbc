//! CloudWatch embedded metric format (EMF) on stdout.
//!
//! ECS's awslogs driver sends stdout to CloudWatch Logs, which turns each EMF record into
//! metrics: the proxy makes no CloudWatch API call and needs no permission. Every interval
//! the exporter writes, as single JSON lines:
//! - one record per (version id, edge) with requests accepted in the interval:
//!   `AcceptedRequests`, dimension sets `["VersionId"]` and `["VersionId","Edge"]`;
//! - one record per (rejection reason, edge) seen: `RejectedRequests`, dimension sets
//!   `["Reason"]` and `["Reason","Edge"]` (refused, or in report mode forwarded: the
//!   counts a person decides from, per front door);
//! - one record if any request found no accepted set loaded: `UnavailableRequests`, no
//!   dimension (refused with 503, or in report mode forwarded);
//! - in report mode, one record each interval: `NotEnforcing` = 1, no dimension (what
//!   deploy/'s alarm on a forgotten report mode watches).
//!
//! A record carries counts, version ids, edge and reason names only, never a value.
//! Format: "Specification: Embedded metric format", Amazon CloudWatch User Guide
//! (`_aws.Timestamp` in epoch milliseconds, `CloudWatchMetrics[].Namespace`,
//! `Dimensions` as arrays of top-level member names, `Metrics[].Name`/`Unit`).
//! Written by hand with serde_json: the Rust EMF crates found are built on a metrics
//! facade this proxy does not use, and the format is four fields.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use edgeguard_secret::metrics::{ACCEPTED_METRIC, EDGE_DIMENSION, VERSION_DIMENSION};

use super::Metrics;
use crate::auth::Rejection;
use crate::edge::Edge;

/// The exporter's memory of what it has reported, so that each record holds the count
/// for its interval (CloudWatch sums the records of a period).
#[derive(Debug)]
pub struct EmfExporter {
    namespace: String,
    accepted: BTreeMap<(Arc<str>, Edge), u64>,
    /// By (reason, edge), in `Metrics::rejections_by_edge`'s order.
    rejected: Vec<u64>,
    unavailable: u64,
}

impl EmfExporter {
    /// Starts from zero: the first interval reports everything since the proxy started.
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            accepted: BTreeMap::new(),
            rejected: vec![0; Rejection::ALL.len() * Edge::ALL.len()],
            unavailable: 0,
        }
    }

    /// The records for the counts since the last call, one JSON line each (no newline).
    pub fn records(&mut self, metrics: &Metrics, timestamp_ms: u64) -> Vec<String> {
        let mut out = Vec::new();
        let mut totals: BTreeMap<(Arc<str>, Edge), u64> = BTreeMap::new();
        for ((version_id, _label), counts) in metrics.accepted_snapshot() {
            for edge in Edge::ALL {
                *totals.entry((version_id.clone(), edge)).or_default() += counts.get(edge);
            }
        }
        for ((version_id, edge), total) in totals {
            let last = self.accepted.insert((version_id.clone(), edge), total);
            let delta = total.saturating_sub(last.unwrap_or(0));
            if delta > 0 {
                out.push(self.record(
                    timestamp_ms,
                    ACCEPTED_METRIC,
                    delta,
                    &[&[VERSION_DIMENSION], &[VERSION_DIMENSION, EDGE_DIMENSION]],
                    &[
                        (VERSION_DIMENSION, &version_id),
                        (EDGE_DIMENSION, edge.as_str()),
                    ],
                ));
            }
        }
        for (i, (why, edge, total)) in metrics.rejections_by_edge().into_iter().enumerate() {
            let delta = total.saturating_sub(self.rejected[i]);
            self.rejected[i] = total;
            if delta > 0 {
                out.push(self.record(
                    timestamp_ms,
                    "RejectedRequests",
                    delta,
                    &[&["Reason"], &["Reason", EDGE_DIMENSION]],
                    &[("Reason", why.as_str()), (EDGE_DIMENSION, edge.as_str())],
                ));
            }
        }
        let unavailable = metrics.nothing_loaded_total();
        let delta = unavailable.saturating_sub(self.unavailable);
        self.unavailable = unavailable;
        if delta > 0 {
            out.push(self.record(timestamp_ms, "UnavailableRequests", delta, &[&[]], &[]));
        }
        if !metrics.is_enforcing() {
            out.push(self.record(timestamp_ms, "NotEnforcing", 1, &[&[]], &[]));
        }
        out
    }

    fn record(
        &self,
        timestamp_ms: u64,
        metric: &str,
        count: u64,
        dimension_sets: &[&[&str]],
        dimensions: &[(&str, &str)],
    ) -> String {
        let mut record = json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": dimension_sets,
                    "Metrics": [{ "Name": metric, "Unit": "Count" }],
                }],
            },
            metric: count,
        });
        if let Value::Object(map) = &mut record {
            for (name, value) in dimensions {
                map.insert((*name).to_owned(), Value::from(*value));
            }
        }
        record.to_string()
    }
}

/// Writes the records, each one line in one `write_all`, so that a log line written by
/// another thread never lands inside one (tracing's writer locks the same stdout).
pub fn write_records(out: &mut impl Write, records: &[String]) -> std::io::Result<()> {
    for record in records {
        let mut line = String::with_capacity(record.len() + 1);
        line.push_str(record);
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Every `interval`, writes the interval's records to stdout; on shutdown, writes the last
/// ones (requests drained after the signal are counted too, as long as they end before
/// the caller awaits this task).
/// `metrics` is whatever holds the proxy's metrics (the proxy's shared state): only the
/// metrics are read.
pub async fn run<M: AsRef<Metrics> + Send + Sync + 'static>(
    metrics: Arc<M>,
    namespace: String,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut exporter = EmfExporter::new(&namespace);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = ticks.tick() => false,
            () = stop.cancelled() => true,
        };
        let records = exporter.records((*metrics).as_ref(), now_ms());
        // With the awslogs driver in blocking mode a write waits while CloudWatch Logs
        // does: on the blocking pool, so no runtime worker (no request) waits with it.
        // Nothing is lost meanwhile: the counters keep counting, and the next records
        // carry what this interval's wait held back.
        let written = tokio::task::spawn_blocking(move || {
            write_records(&mut std::io::stdout().lock(), &records)
        })
        .await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot write EMF records to stdout"),
            Err(e) => tracing::warn!(error = %e, "the EMF writer stopped"),
        }
        if last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(records: &[String]) -> Vec<Value> {
        records
            .iter()
            .map(|r| {
                assert!(!r.contains('\n'), "one line per record: {r}");
                serde_json::from_str(r).unwrap()
            })
            .collect()
    }

    #[test]
    fn one_record_per_version_and_edge_with_the_interval_count() {
        let m = Metrics::default();
        let mut e = EmfExporter::new("edgeguard");
        m.accept_counts("v1", "current").record(Edge::CloudFront);
        m.accept_counts("v1", "current").record(Edge::CloudFront);
        m.accept_counts("v0", "previous").record(Edge::Other);
        let r = parsed(&e.records(&m, 1_700_000_000_000));
        assert_eq!(r.len(), 2, "{r:?}");
        let v1 = r.iter().find(|x| x["VersionId"] == "v1").unwrap();
        assert_eq!(v1["AcceptedRequests"], 2);
        assert_eq!(v1["Edge"], "cloudfront");
        assert_eq!(v1["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let decl = &v1["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(decl["Namespace"], "edgeguard");
        assert_eq!(
            decl["Dimensions"],
            json!([["VersionId"], ["VersionId", "Edge"]])
        );
        assert_eq!(
            decl["Metrics"],
            json!([{ "Name": "AcceptedRequests", "Unit": "Count" }])
        );

        // Nothing new: no record. Then only the new requests are reported.
        assert!(e.records(&m, 1).is_empty());
        m.accept_counts("v1", "current").record(Edge::CloudFront);
        let r = parsed(&e.records(&m, 2));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["AcceptedRequests"], 1);
    }

    #[test]
    fn a_version_under_two_labels_is_one_record() {
        // AWSCURRENT and AWSPENDING on one version (between finish and clean-up).
        let m = Metrics::default();
        let mut e = EmfExporter::new("ns");
        m.accept_counts("v2", "pending").record(Edge::Other);
        m.accept_counts("v2", "current").record(Edge::Other);
        let r = parsed(&e.records(&m, 0));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["AcceptedRequests"], 2);
    }

    #[test]
    fn rejections_are_reported_by_reason_and_edge_and_unavailable_alone() {
        let m = Metrics::default();
        let mut e = EmfExporter::new("ns");
        m.rejection(Rejection::Missing, Edge::Other);
        m.rejection(Rejection::Missing, Edge::Other);
        m.rejection(Rejection::Missing, Edge::CloudFront);
        m.rejection(Rejection::Duplicate, Edge::ApiGateway);
        m.nothing_loaded();
        let r = parsed(&e.records(&m, 0));
        let one = |reason: &str, edge: &str| {
            r.iter()
                .find(|x| x["Reason"] == reason && x["Edge"] == edge)
                .unwrap_or_else(|| panic!("no {reason}/{edge} record: {r:?}"))
                .clone()
        };
        let missing = one("missing", "other");
        assert_eq!(missing["RejectedRequests"], 2);
        assert_eq!(
            missing["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Reason"], ["Reason", "Edge"]])
        );
        assert_eq!(one("missing", "cloudfront")["RejectedRequests"], 1);
        assert_eq!(one("duplicate", "apigateway")["RejectedRequests"], 1);
        let unavailable = r
            .iter()
            .find(|x| x.get("UnavailableRequests").is_some())
            .unwrap();
        assert_eq!(unavailable["UnavailableRequests"], 1);
        assert_eq!(
            unavailable["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        assert_eq!(r.len(), 4, "{r:?}");
        assert!(e.records(&m, 1).is_empty());
        assert!(r.iter().all(|x| x.get("NotEnforcing").is_none()));
    }

    #[test]
    fn report_mode_says_so_every_interval() {
        let m = Metrics::default();
        m.set_enforcing(false);
        let mut e = EmfExporter::new("ns");
        for t in 0..2 {
            let r = parsed(&e.records(&m, t));
            assert_eq!(r.len(), 1, "{r:?}");
            assert_eq!(r[0]["NotEnforcing"], 1);
        }
    }

    #[test]
    fn records_are_written_one_per_line() {
        let mut out = Vec::new();
        write_records(&mut out, &["{\"a\":1}".into(), "{\"b\":2}".into()]).unwrap();
        assert_eq!(out, b"{\"a\":1}\n{\"b\":2}\n");
    }
}
