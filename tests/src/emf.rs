//! A stateful CloudWatch double for the proxy's embedded-metric records: what CloudWatch
//! Logs makes of them, and what GetMetricData answers.
//!
//! - Ingestion ("Specification: Embedded metric format", Amazon CloudWatch User Guide):
//!   each record's metrics are stored once per dimension set, with exactly those
//!   dimensions, at the record's own `_aws.Timestamp`.
//!   A record becomes a metric only some time after it is shipped ([`INGESTION_DELAY`];
//!   AWS states no bound): until then no query sees it.
//! - Reading ("GetMetricData", Amazon CloudWatch API Reference): a `MetricStat` matches
//!   the metrics whose namespace, name and dimensions are exactly the query's; `Sum` adds
//!   them per `Period` bucket, buckets aligned to whole periods (whole minutes at 60 s);
//!   StartTime is rounded down to the minute ("Start time less than 15 days ago - Round
//!   down to the nearest whole minute") and is inclusive, EndTime is exclusive. Each
//!   result carries a `StatusCode`: `Complete`, or a scripted `InternalError`,
//!   `PartialData` or `Forbidden` ([`CloudWatchDouble::answer_next_with`]).
//!
//! Why a double and not moto: moto 5.2 serves CloudWatch's Query and JSON protocols, and
//! aws-sdk-cloudwatch speaks Smithy RPC v2 CBOR (getmoto/moto#9195), so the emulator
//! cannot answer the SDK. The double is served two ways: in process as a `Witness`, and
//! over HTTP in that protocol ([`CloudWatchDouble::serve`]: `POST
//! /service/GraniteServiceVersion20100801/operation/GetMetricData`, CBOR bodies, the
//! `smithy-protocol: rpc-v2-cbor` header, timestamps as CBOR tag 1; "Smithy RPC v2 CBOR
//! protocol", Smithy 2.0 specification), so that the `edgeguard-sync` binary reads it
//! with its real SDK client (`AWS_ENDPOINT_URL_CLOUDWATCH`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use ciborium::Value as CborValue;
use edgeguard_sync::error::SyncError;
use edgeguard_sync::evidence::{EDGES, METRIC, PERIOD, VersionCount, Window, Witness};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// How long a shipped record takes to become a metric here. The sync configurations of the
/// tests give a larger `ingestion_margin`.
pub const INGESTION_DELAY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq)]
struct Datum {
    at: SystemTime,
    /// When the metric can be read.
    visible_at: SystemTime,
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
    delay: Duration,
    /// Statuses for the next answers: each answers its first query with it.
    statuses: Arc<Mutex<Vec<&'static str>>>,
    name: String,
}

impl CloudWatchDouble {
    /// Reads `namespace` (the sync configuration's `[evidence] namespace`); records become
    /// metrics [`INGESTION_DELAY`] after they are shipped.
    pub fn new(namespace: &str) -> Self {
        Self {
            data: Arc::default(),
            namespace: namespace.to_owned(),
            delay: INGESTION_DELAY,
            statuses: Arc::default(),
            name: format!("cloudwatch double {namespace}"),
        }
    }

    /// Records shipped become metrics `delay` later (zero: records shipped long ago).
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The next answer's first query gets `status` (`InternalError`, `PartialData`,
    /// `Forbidden`) instead of `Complete`.
    pub fn answer_next_with(&self, status: &'static str) {
        self.statuses.lock().unwrap().push(status);
    }

    /// Ingests the records in `output` after the first `shipped` lines (the proxy's
    /// stdout, log lines and all); returns how many records it took, and moves `shipped`
    /// past every line it read.
    pub fn ship(&self, output: &str, shipped: &mut usize) -> usize {
        let lines: Vec<&str> = output.lines().collect();
        let records = self.ingest(&lines[(*shipped).min(lines.len())..]);
        *shipped = lines.len();
        records
    }

    /// Ships each source's new lines every 250 ms (what the awslogs driver and CloudWatch
    /// Logs do, minus their delay), until the returned task is aborted.
    pub fn spawn_shipper(
        &self,
        sources: Vec<Arc<Mutex<Vec<String>>>>,
    ) -> tokio::task::JoinHandle<()> {
        let double = self.clone();
        tokio::spawn(async move {
            let mut shipped = vec![0; sources.len()];
            loop {
                for (source, done) in sources.iter().zip(shipped.iter_mut()) {
                    let new: Vec<String> = source.lock().unwrap()[*done..].to_vec();
                    *done += new.len();
                    let lines: Vec<&str> = new.iter().map(String::as_str).collect();
                    double.ingest(&lines);
                }
                tokio::time::sleep(Duration::from_millis(250)).await; // a shipper's cadence
            }
        })
    }

    /// Ingests the EMF records among `lines` (other lines are skipped); how many.
    fn ingest(&self, lines: &[&str]) -> usize {
        let mut records = 0;
        for line in lines {
            let Ok(record) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let Some(aws) = record.get("_aws") else {
                continue;
            };
            let at = UNIX_EPOCH + Duration::from_millis(aws["Timestamp"].as_u64().unwrap());
            let visible_at = SystemTime::now() + self.delay;
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
                            visible_at,
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
        records
    }

    /// The Sum of one metric (exact namespace, name and dimensions) per `period` bucket
    /// with data, as CloudWatch answers at `now`: only metrics ingested by then, StartTime
    /// rounded down to the minute, buckets aligned to whole periods, EndTime exclusive.
    /// Newest first (the default `TimestampDescending`).
    fn buckets(
        &self,
        namespace: &str,
        metric: &str,
        dimensions: &[(&str, &str)],
        (start, end): (SystemTime, SystemTime),
        period: u64,
        now: SystemTime,
    ) -> Vec<(SystemTime, f64)> {
        let mut wanted: Vec<(String, String)> = dimensions
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        wanted.sort();
        let floor = |t: SystemTime, step: u64| {
            let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
            UNIX_EPOCH + Duration::from_secs(secs / step.max(1) * step.max(1))
        };
        let start = floor(start, 60);
        let mut buckets: std::collections::BTreeMap<SystemTime, f64> = Default::default();
        for d in self.data.lock().unwrap().iter() {
            if d.namespace != namespace || d.metric != metric || d.dimensions != wanted {
                continue;
            }
            if d.visible_at > now {
                continue;
            }
            let bucket = floor(d.at, period);
            if bucket >= start && bucket < end {
                *buckets.entry(bucket).or_default() += d.value;
            }
        }
        buckets.into_iter().rev().collect()
    }

    fn next_status(&self) -> Option<&'static str> {
        let mut statuses = self.statuses.lock().unwrap();
        (!statuses.is_empty()).then(|| statuses.remove(0))
    }

    /// Serves GetMetricData (Sum only) on a free loopback port, for as long as the
    /// returned task runs; the caller aborts it.
    pub async fn serve(&self) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let double = self.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let double = double.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(double.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (addr, task)
    }

    /// One GetMetricData request body: a result per query, a datapoint per `Period`
    /// bucket (counted from StartTime) that holds data, newest first (the default
    /// `TimestampDescending`).
    fn get_metric_data(&self, body: &CborValue) -> Result<CborValue, String> {
        let time = |key: &str| -> Result<SystemTime, String> {
            let secs = field(body, key)
                .and_then(epoch_seconds)
                .ok_or(format!("{key} missing"))?;
            Ok(UNIX_EPOCH + Duration::from_secs_f64(secs))
        };
        let (start, end) = (time("StartTime")?, time("EndTime")?);
        let queries = match field(body, "MetricDataQueries") {
            Some(CborValue::Array(q)) => q,
            _ => return Err("MetricDataQueries missing".into()),
        };
        let scripted = self.next_status();
        let mut results = Vec::new();
        for q in queries {
            let id = text(field(q, "Id")).ok_or("Id missing")?;
            let stat = field(q, "MetricStat").ok_or("only MetricStat queries are served")?;
            if text(field(stat, "Stat")) != Some("Sum") {
                return Err("only the Sum statistic is served".into());
            }
            let period = match field(stat, "Period") {
                Some(CborValue::Integer(p)) => i128::from(*p) as u64,
                _ => return Err("Period missing".into()),
            };
            let metric = field(stat, "Metric").ok_or("Metric missing")?;
            let dimensions: Vec<(&str, &str)> = match field(metric, "Dimensions") {
                Some(CborValue::Array(ds)) => ds
                    .iter()
                    .filter_map(|d| Some((text(field(d, "Name"))?, text(field(d, "Value"))?)))
                    .collect(),
                _ => Vec::new(),
            };
            let points = self.buckets(
                text(field(metric, "Namespace")).unwrap_or_default(),
                text(field(metric, "MetricName")).unwrap_or_default(),
                &dimensions,
                (start, end),
                period,
                SystemTime::now(),
            );
            let (mut stamps, mut values) = (Vec::new(), Vec::new());
            for (at, sum) in points {
                let secs = at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
                stamps.push(CborValue::Tag(1, Box::new(CborValue::Float(secs))));
                values.push(CborValue::Float(sum));
            }
            let status = if results.is_empty() {
                scripted.unwrap_or("Complete")
            } else {
                "Complete"
            };
            results.push(CborValue::Map(vec![
                (CborValue::Text("Id".into()), CborValue::Text(id.to_owned())),
                (
                    CborValue::Text("Label".into()),
                    CborValue::Text(id.to_owned()),
                ),
                (
                    CborValue::Text("Timestamps".into()),
                    CborValue::Array(stamps),
                ),
                (CborValue::Text("Values".into()), CborValue::Array(values)),
                (
                    CborValue::Text("StatusCode".into()),
                    CborValue::Text(status.into()),
                ),
            ]));
        }
        Ok(CborValue::Map(vec![(
            CborValue::Text("MetricDataResults".into()),
            CborValue::Array(results),
        )]))
    }
}

fn field<'a>(map: &'a CborValue, key: &str) -> Option<&'a CborValue> {
    match map {
        CborValue::Map(entries) => entries
            .iter()
            .find(|(k, _)| matches!(k, CborValue::Text(t) if t == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn text(value: Option<&CborValue>) -> Option<&str> {
    match value {
        Some(CborValue::Text(t)) => Some(t),
        _ => None,
    }
}

/// A Smithy timestamp: CBOR tag 1 around an integer or a float of epoch seconds.
fn epoch_seconds(value: &CborValue) -> Option<f64> {
    match value {
        CborValue::Tag(1, inner) => match inner.as_ref() {
            CborValue::Integer(i) => Some(i128::from(*i) as f64),
            CborValue::Float(f) => Some(*f),
            _ => None,
        },
        _ => None,
    }
}

async fn answer(
    double: CloudWatchDouble,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let operation = req.uri().path().rsplit('/').next().unwrap_or("").to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let result = match operation.as_str() {
        "GetMetricData" => ciborium::from_reader::<CborValue, _>(&body[..])
            .map_err(|e| format!("not CBOR: {e}"))
            .and_then(|request| double.get_metric_data(&request)),
        other => Err(format!("{other} is not served by this double")),
    };
    let (status, value) = match result {
        Ok(v) => (StatusCode::OK, v),
        Err(message) => (
            StatusCode::BAD_REQUEST,
            CborValue::Map(vec![
                (
                    CborValue::Text("__type".into()),
                    CborValue::Text("InvalidParameterValueException".into()),
                ),
                (CborValue::Text("message".into()), CborValue::Text(message)),
            ]),
        ),
    };
    let mut out = Vec::new();
    ciborium::into_writer(&value, &mut out).unwrap();
    Ok(Response::builder()
        .status(status)
        .header("smithy-protocol", "rpc-v2-cbor")
        .header("content-type", "application/cbor")
        .body(Full::new(Bytes::from(out)))
        .unwrap())
}

#[async_trait]
impl Witness for CloudWatchDouble {
    fn source(&self) -> &str {
        &self.name
    }

    /// In process: the same answers as over HTTP, with the production witness's rules
    /// (only `Complete` counts).
    async fn accepted(
        &self,
        version_ids: &[&str],
        window: &Window,
    ) -> Result<Vec<VersionCount>, SyncError> {
        if let Some(status) = self.next_status() {
            return Err(SyncError::Target {
                target: self.name.clone(),
                problem: format!(
                    "GetMetricData answered {status} for query v0: the counts are not known, so nothing can be proven; try again later"
                ),
            });
        }
        let now = SystemTime::now();
        let read = |dimensions: &[(&str, &str)]| {
            self.buckets(
                &self.namespace,
                METRIC,
                dimensions,
                (window.from, window.to),
                PERIOD.as_secs(),
                now,
            )
        };
        let sum = |points: &[(SystemTime, f64)]| points.iter().map(|(_, v)| v).sum::<f64>() as u64;
        Ok(version_ids
            .iter()
            .map(|id| {
                let total = read(&[("VersionId", id)]);
                VersionCount {
                    version_id: (*id).to_owned(),
                    total: sum(&total),
                    by_edge: EDGES
                        .iter()
                        .map(|e| {
                            (
                                (*e).to_owned(),
                                sum(&read(&[("VersionId", id), ("Edge", e)])),
                            )
                        })
                        .filter(|(_, n)| *n > 0)
                        .collect(),
                    newest: total
                        .iter()
                        .filter(|(_, v)| *v > 0.0)
                        .map(|(t, _)| t.duration_since(UNIX_EPOCH).unwrap().as_secs())
                        .max(),
                }
            })
            .collect())
    }
}
