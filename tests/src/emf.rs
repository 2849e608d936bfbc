//! A stateful CloudWatch double for the proxy's embedded-metric records: what CloudWatch
//! Logs makes of them, and what GetMetricData answers.
//!
//! - Ingestion ("Specification: Embedded metric format", Amazon CloudWatch User Guide):
//!   each record's metrics are stored once per dimension set, with exactly those
//!   dimensions, at the record's own `_aws.Timestamp`.
//! - Reading ("GetMetricData", Amazon CloudWatch API Reference): a `MetricStat` matches
//!   the metrics whose namespace, name and dimensions are exactly the query's; `Sum` adds
//!   the datapoints whose timestamps fall in [StartTime, EndTime).
//!
//! Why a double and not moto: moto 5.2 serves CloudWatch's Query and JSON protocols, and
//! aws-sdk-cloudwatch speaks Smithy RPC v2 CBOR (getmoto/moto#9195), so the emulator
//! cannot answer the SDK. The production GetMetricData path is tested on the SDK's test
//! doubles (`sync/src/evidence.rs`); this double lets a real proxy's records reach the
//! real evidence gate inside a real prune against moto's Secrets Manager and WAF.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use edgeguard_sync::error::SyncError;
use edgeguard_sync::evidence::{EDGES, METRIC, VersionCount, Witness, query_period};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
struct Datum {
    at: SystemTime,
    namespace: String,
    metric: String,
    /// Sorted by name.
    dimensions: Vec<(String, String)>,
    value: f64,
}

#[derive(Debug, Clone, Default)]
pub struct CloudWatchDouble {
    data: Arc<Mutex<Vec<Datum>>>,
    namespace: String,
}

impl CloudWatchDouble {
    /// Reads `namespace` (the sync configuration's `[evidence] namespace`).
    pub fn new(namespace: &str) -> Self {
        Self {
            data: Arc::default(),
            namespace: namespace.to_owned(),
        }
    }

    /// Ingests the records in `output` after the first `shipped` lines (the proxy's
    /// stdout, log lines and all); returns how many records it took, and moves `shipped`
    /// past every line it read.
    pub fn ship(&self, output: &str, shipped: &mut usize) -> usize {
        let lines: Vec<&str> = output.lines().collect();
        let mut records = 0;
        for line in &lines[(*shipped).min(lines.len())..] {
            let Ok(record) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let Some(aws) = record.get("_aws") else {
                continue;
            };
            let at = UNIX_EPOCH + Duration::from_millis(aws["Timestamp"].as_u64().unwrap());
            for declaration in aws["CloudWatchMetrics"].as_array().unwrap() {
                for metric in declaration["Metrics"].as_array().unwrap() {
                    let name = metric["Name"].as_str().unwrap();
                    for set in declaration["Dimensions"].as_array().unwrap() {
                        let mut dimensions: Vec<(String, String)> = set
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|d| {
                                let d = d.as_str().unwrap();
                                (d.to_owned(), record[d].as_str().unwrap().to_owned())
                            })
                            .collect();
                        dimensions.sort();
                        self.data.lock().unwrap().push(Datum {
                            at,
                            namespace: declaration["Namespace"].as_str().unwrap().to_owned(),
                            metric: name.to_owned(),
                            dimensions,
                            value: record[name].as_f64().unwrap(),
                        });
                    }
                }
            }
            records += 1;
        }
        *shipped = lines.len();
        records
    }

    fn sum(&self, dimensions: &[(&str, &str)], from: SystemTime, to: SystemTime) -> u64 {
        let mut wanted: Vec<(String, String)> = dimensions
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        wanted.sort();
        self.data
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.namespace == self.namespace && d.metric == METRIC)
            .filter(|d| d.dimensions == wanted && d.at >= from && d.at < to)
            .map(|d| d.value)
            .sum::<f64>() as u64
    }
}

#[async_trait]
impl Witness for CloudWatchDouble {
    async fn accepted(
        &self,
        version_ids: &[&str],
        period: Duration,
    ) -> Result<Vec<VersionCount>, SyncError> {
        // The same range the production witness asks for.
        let to = SystemTime::now();
        let from = to - Duration::from_secs(query_period(period) as u64);
        Ok(version_ids
            .iter()
            .map(|id| VersionCount {
                version_id: (*id).to_owned(),
                total: self.sum(&[("VersionId", id)], from, to),
                by_edge: EDGES
                    .iter()
                    .map(|e| {
                        (
                            (*e).to_owned(),
                            self.sum(&[("VersionId", id), ("Edge", e)], from, to),
                        )
                    })
                    .filter(|(_, n)| *n > 0)
                    .collect(),
            })
            .collect())
    }
}
