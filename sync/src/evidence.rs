//! The evidence gate: narrow the acceptors only when the fleet's own counts show that
//! nobody still sends AWSPREVIOUS, and that the fleet reports at all.
//!
//! The proxies write `AcceptedRequests` per Secrets Manager version id (and per edge) as
//! CloudWatch embedded metrics (docs/proxy.md, "Embedded metrics"). [`Witness`] reads the
//! sums back; [`judge`] decides. A timer (the dual-accept window) cannot see an injector
//! the configuration forgot; the requests can.

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use crate::error::SyncError;

/// The edges the proxies name (`Edge` dimension values).
pub const EDGES: [&str; 3] = ["cloudfront", "apigateway", "other"];
/// The metric the proxies write.
pub const METRIC: &str = "AcceptedRequests";

/// Accepted requests of one version over a period, in all and per edge seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VersionCount {
    pub version_id: String,
    pub total: u64,
    /// Only edges with requests, in [`EDGES`] order.
    pub by_edge: Vec<(String, u64)>,
}

impl VersionCount {
    fn edges(&self) -> String {
        if self.by_edge.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self
            .by_edge
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect();
        format!(" ({})", parts.join(", "))
    }
}

/// Reads accepted-request counts.
#[async_trait]
pub trait Witness: Send + Sync {
    /// Per version id, the requests accepted over the `period` that ends now.
    async fn accepted(
        &self,
        version_ids: &[&str],
        period: Duration,
    ) -> Result<Vec<VersionCount>, SyncError>;
}

/// What the counts say about narrowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// AWSPREVIOUS unused and AWSCURRENT in use: safe to narrow.
    Quiet,
    /// Requests still carry AWSPREVIOUS.
    PreviousInUse,
    /// No request carried AWSCURRENT: no proof that the fleet reports at all.
    NoReports,
}

/// The counts a prune saw and what they mean.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub period_secs: u64,
    pub current: VersionCount,
    pub previous: Option<VersionCount>,
    pub verdict: Verdict,
}

/// The decision: refuse while AWSPREVIOUS has any accepted request, or while AWSCURRENT
/// has none; otherwise quiet. A request carrying AWSPREVIOUS outweighs a silent
/// AWSCURRENT (it names the sender to fix).
pub fn judge(current: &VersionCount, previous: Option<&VersionCount>) -> Verdict {
    if previous.is_some_and(|p| p.total > 0) {
        Verdict::PreviousInUse
    } else if current.total == 0 {
        Verdict::NoReports
    } else {
        Verdict::Quiet
    }
}

impl Report {
    pub fn quiet(&self) -> bool {
        self.verdict == Verdict::Quiet
    }

    fn period(&self) -> String {
        humantime::format_duration(Duration::from_secs(self.period_secs)).to_string()
    }
}

impl fmt::Display for Report {
    /// One line: the counts, then (unless quiet) why narrowing would reject requests and
    /// what to do.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "evidence over the last {}: AWSCURRENT {} accepted {}{}",
            self.period(),
            self.current.version_id,
            self.current.total,
            self.current.edges()
        )?;
        if let Some(p) = &self.previous {
            write!(
                f,
                ", AWSPREVIOUS {} accepted {}{}",
                p.version_id,
                p.total,
                p.edges()
            )?;
        }
        match self.verdict {
            Verdict::Quiet => write!(f, ": quiet"),
            Verdict::PreviousInUse => write!(
                f,
                ": AWSPREVIOUS still in use, so narrowing would reject those requests. Find \
                 the sender (the edges above; an injector missing from the configuration, a \
                 stage whose deployment did not take, a client that copied the header), \
                 point it at AWSCURRENT, and prune once {} pass without such a request \
                 (`prune --ignore-evidence` narrows anyway)",
                self.period()
            ),
            Verdict::NoReports => write!(
                f,
                ": no request carried AWSCURRENT, so there is no proof that the proxies \
                 report at all. Check that they run with --emf stdout and the namespace \
                 configured in [evidence], that their logs reach CloudWatch, and that \
                 traffic flows (`prune --ignore-evidence` narrows anyway)"
            ),
        }
    }
}

/// Reads the sums from CloudWatch `GetMetricData` (Sum of `AcceptedRequests` by
/// `VersionId`, and by `VersionId` and `Edge`).
#[derive(Debug, Clone)]
pub struct CloudWatchWitness {
    client: aws_sdk_cloudwatch::Client,
    namespace: String,
}

impl CloudWatchWitness {
    pub fn new(client: aws_sdk_cloudwatch::Client, namespace: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
        }
    }

    fn query(&self, id: String, period: i32, dimensions: Vec<Dimension>) -> MetricDataQuery {
        let metric = Metric::builder()
            .namespace(&self.namespace)
            .metric_name(METRIC)
            .set_dimensions(Some(dimensions))
            .build();
        let stat = MetricStat::builder()
            .metric(metric)
            .period(period)
            .stat("Sum")
            .build();
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(stat)
            .return_data(true)
            .build()
    }
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// The query period: the whole range in one datapoint where CloudWatch allows it (a
/// multiple of 60 s for standard-resolution metrics, "GetMetricData", Amazon CloudWatch
/// API Reference).
pub fn query_period(period: Duration) -> i32 {
    let minutes = period.as_secs().div_ceil(60).max(1);
    i32::try_from(minutes * 60).unwrap_or(i32::MAX / 60 * 60)
}

#[async_trait]
impl Witness for CloudWatchWitness {
    async fn accepted(
        &self,
        version_ids: &[&str],
        period: Duration,
    ) -> Result<Vec<VersionCount>, SyncError> {
        let seconds = query_period(period);
        let end = SystemTime::now();
        let start = end - Duration::from_secs(seconds as u64);
        let mut queries = Vec::new();
        for (v, id) in version_ids.iter().enumerate() {
            queries.push(self.query(format!("v{v}"), seconds, vec![dimension("VersionId", id)]));
            for (e, edge) in EDGES.iter().enumerate() {
                queries.push(self.query(
                    format!("v{v}e{e}"),
                    seconds,
                    vec![dimension("VersionId", id), dimension("Edge", edge)],
                ));
            }
        }
        let mut sums: std::collections::HashMap<String, f64> = Default::default();
        let mut token: Option<String> = None;
        // Bounded: a handful of queries fit one page; 20 pages would mean a broken API.
        for _ in 0..20 {
            let out = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(start.into())
                .end_time(end.into())
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| SyncError::Target {
                    target: format!("cloudwatch:{}", self.namespace),
                    problem: format!(
                        "GetMetricData failed: {}",
                        aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
                    ),
                })?;
            for r in out.metric_data_results() {
                let id = r.id().unwrap_or_default().to_owned();
                *sums.entry(id).or_default() += r.values().iter().sum::<f64>();
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let count = |id: &str| sums.get(id).copied().unwrap_or(0.0).max(0.0).round() as u64;
        Ok(version_ids
            .iter()
            .enumerate()
            .map(|(v, id)| VersionCount {
                version_id: (*id).to_owned(),
                total: count(&format!("v{v}")),
                by_edge: EDGES
                    .iter()
                    .enumerate()
                    .map(|(e, edge)| ((*edge).to_owned(), count(&format!("v{v}e{e}"))))
                    .filter(|(_, n)| *n > 0)
                    .collect(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(id: &str, total: u64) -> VersionCount {
        VersionCount {
            version_id: id.into(),
            total,
            by_edge: vec![],
        }
    }

    #[test]
    fn the_gate_decides_each_case() {
        // No data at all: no proof the fleet reports.
        assert_eq!(
            judge(&count("c", 0), Some(&count("p", 0))),
            Verdict::NoReports
        );
        assert_eq!(judge(&count("c", 0), None), Verdict::NoReports);
        // A single request with the old value is enough to refuse, current traffic or not.
        assert_eq!(
            judge(&count("c", 500), Some(&count("p", 1))),
            Verdict::PreviousInUse
        );
        assert_eq!(
            judge(&count("c", 0), Some(&count("p", 3))),
            Verdict::PreviousInUse
        );
        // Quiet: previous unused, current in use (one request is proof enough).
        assert_eq!(judge(&count("c", 1), Some(&count("p", 0))), Verdict::Quiet);
        assert_eq!(judge(&count("c", 1), None), Verdict::Quiet);
    }

    #[test]
    fn the_query_period_covers_the_quiet_period_in_whole_minutes() {
        assert_eq!(query_period(Duration::from_secs(600)), 600);
        assert_eq!(query_period(Duration::from_secs(601)), 660);
        assert_eq!(query_period(Duration::from_secs(1)), 60);
        assert_eq!(query_period(Duration::ZERO), 60);
        assert_eq!(query_period(Duration::from_secs(u64::MAX / 2)) % 60, 0);
    }

    /// The GetMetricData path against the SDK's test doubles: moto 5.2 serves CloudWatch's
    /// Query and JSON protocols only, and this SDK speaks Smithy RPC v2 CBOR
    /// (getmoto/moto#9195), so the emulator cannot answer it.
    #[tokio::test]
    async fn cloudwatch_is_asked_for_sums_by_version_and_edge_and_pages_are_summed() {
        use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
        use aws_sdk_cloudwatch::types::MetricDataResult;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        use std::sync::{Arc, Mutex};

        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_in_rule = seen.clone();
        let result = |id: &str, values: &[f64]| {
            MetricDataResult::builder()
                .id(id)
                .set_values(Some(values.to_vec()))
                .build()
        };
        let first = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
            .match_requests(move |r| {
                seen_in_rule.lock().unwrap().push(r.clone());
                r.next_token().is_none()
            })
            .then_output(move || {
                GetMetricDataOutput::builder()
                    .metric_data_results(result("v0", &[30.0, 12.0]))
                    .metric_data_results(result("v1", &[2.0]))
                    .metric_data_results(result("v1e0", &[2.0]))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(move || {
                GetMetricDataOutput::builder()
                    .metric_data_results(result("v1", &[1.0]))
                    .metric_data_results(result("v1e2", &[1.0]))
                    .build()
            });
        let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&first, &second]);
        let witness = CloudWatchWitness::new(client, "edgeguard");
        let counts = witness
            .accepted(&["cur", "prev"], Duration::from_secs(600))
            .await
            .unwrap();
        assert_eq!(counts[0].version_id, "cur");
        assert_eq!(counts[0].total, 42);
        assert_eq!(counts[1].total, 3, "both pages summed");
        assert_eq!(
            counts[1].by_edge,
            [("cloudfront".to_owned(), 2), ("other".to_owned(), 1)]
        );

        let request = seen.lock().unwrap()[0].clone();
        let span = request.end_time().unwrap().secs() - request.start_time().unwrap().secs();
        assert_eq!(span, 600);
        let queries = request.metric_data_queries();
        assert_eq!(queries.len(), 8, "per version: the total and three edges");
        let q = &queries[5];
        assert_eq!(q.id(), Some("v1e0"));
        let stat = q.metric_stat().unwrap();
        assert_eq!((stat.stat(), stat.period()), (Some("Sum"), Some(600)));
        let metric = stat.metric().unwrap();
        assert_eq!(metric.namespace(), Some("edgeguard"));
        assert_eq!(metric.metric_name(), Some("AcceptedRequests"));
        let dims: Vec<(&str, &str)> = metric
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect();
        assert_eq!(dims, [("VersionId", "prev"), ("Edge", "cloudfront")]);
    }

    #[tokio::test]
    async fn a_failed_read_is_an_error_not_quiet() {
        use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataError;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};
        let throttled = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_error(|| {
            GetMetricDataError::generic(
                aws_sdk_cloudwatch::error::ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&throttled]);
        let e = CloudWatchWitness::new(client, "edgeguard")
            .accepted(&["cur"], Duration::from_secs(600))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("GetMetricData failed"), "{e}");
    }

    #[test]
    fn a_refusal_gives_the_counts_the_edges_and_what_to_do() {
        let report = Report {
            period_secs: 600,
            current: count("v2", 40),
            previous: Some(VersionCount {
                version_id: "v1".into(),
                total: 7,
                by_edge: vec![("cloudfront".into(), 7)],
            }),
            verdict: Verdict::PreviousInUse,
        };
        let text = report.to_string();
        for part in [
            "last 10m",
            "AWSCURRENT v2 accepted 40",
            "AWSPREVIOUS v1 accepted 7 (cloudfront 7)",
            "still in use",
            "--ignore-evidence",
        ] {
            assert!(text.contains(part), "{part} missing: {text}");
        }
    }
}
