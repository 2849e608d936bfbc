//! [`Witness`] over CloudWatch `GetMetricData`: the Sum of `AcceptedRequests` by
//! `VersionId`, and by `VersionId` and `Edge`, one datapoint a minute.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};
use edgeguard_secret::metrics::{EDGE_DIMENSION, VERSION_DIMENSION};

use super::{EDGES, METRIC, PERIOD, VersionCount, Window, Witness};
use crate::config::EvidenceSource;
use crate::error::SyncError;

/// At most this many pages: a few dozen queries over minutes fit one page; more would mean
/// a broken API, not data.
const MAX_PAGES: usize = 20;

#[derive(Debug, Clone)]
pub struct CloudWatchWitness {
    client: aws_sdk_cloudwatch::Client,
    source: EvidenceSource,
    name: String,
}

/// One query's answer so far, over the pages read.
#[derive(Debug, Default)]
struct Answer {
    sum: f64,
    /// The newest timestamp with a non-zero value.
    newest: Option<SystemTime>,
    /// The last page's status for this query (a query may span pages: `PartialData` then
    /// `Complete`).
    status: Option<StatusCode>,
    messages: Vec<String>,
}

impl CloudWatchWitness {
    /// Reads `source` with `client` (a client in the source's region).
    pub fn new(client: aws_sdk_cloudwatch::Client, source: EvidenceSource) -> Self {
        let region = client
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "the default region".into());
        let account = source
            .account
            .as_ref()
            .map(|a| format!(" account {a}"))
            .unwrap_or_default();
        let name = format!("cloudwatch {region} {}{account}", source.namespace);
        Self {
            client,
            source,
            name,
        }
    }

    fn query(&self, id: String, dimensions: Vec<Dimension>) -> MetricDataQuery {
        let metric = Metric::builder()
            .namespace(&self.source.namespace)
            .metric_name(METRIC)
            .set_dimensions(Some(dimensions))
            .build();
        let stat = MetricStat::builder()
            .metric(metric)
            .period(PERIOD.as_secs() as i32)
            .stat("Sum")
            .build();
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(stat)
            .set_account_id(self.source.account.clone())
            .return_data(true)
            .build()
    }

    fn fail(&self, problem: String) -> SyncError {
        SyncError::Target {
            target: self.name.clone(),
            problem,
        }
    }
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// The query ids: `v<version>` for the total, `v<version>e<edge>` per edge.
fn id(version: usize, edge: Option<usize>) -> String {
    match edge {
        None => format!("v{version}"),
        Some(e) => format!("v{version}e{e}"),
    }
}

#[async_trait]
impl Witness for CloudWatchWitness {
    fn source(&self) -> &str {
        &self.name
    }

    async fn accepted(
        &self,
        version_ids: &[&str],
        window: &Window,
    ) -> Result<Vec<VersionCount>, SyncError> {
        let mut queries = Vec::new();
        for (v, version) in version_ids.iter().enumerate() {
            queries.push(self.query(id(v, None), vec![dimension(VERSION_DIMENSION, version)]));
            for (e, edge) in EDGES.iter().enumerate() {
                queries.push(self.query(
                    id(v, Some(e)),
                    vec![
                        dimension(VERSION_DIMENSION, version),
                        dimension(EDGE_DIMENSION, edge),
                    ],
                ));
            }
        }
        let mut answers: HashMap<String, Answer> = HashMap::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            let out = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(window.from.into())
                .end_time(window.to.into())
                .scan_by(ScanBy::TimestampDescending)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    self.fail(format!(
                        "GetMetricData failed: {}",
                        aws_sdk_cloudwatch::error::DisplayErrorContext(&e)
                    ))
                })?;
            for r in out.metric_data_results() {
                let answer = answers
                    .entry(r.id().unwrap_or_default().to_owned())
                    .or_default();
                for (value, at) in r.values().iter().zip(r.timestamps()) {
                    answer.sum += value.max(0.0);
                    let at = SystemTime::try_from(*at).unwrap_or(UNIX_EPOCH);
                    if *value > 0.0 && answer.newest.is_none_or(|n| at > n) {
                        answer.newest = Some(at);
                    }
                }
                answer.status = r.status_code().cloned();
                answer.messages.extend(
                    r.messages()
                        .iter()
                        .filter_map(|m| m.value().map(str::to_owned)),
                );
            }
            token = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
            if pages >= MAX_PAGES {
                return Err(self.fail(format!(
                    "GetMetricData still had more pages after {MAX_PAGES}: cannot prove anything"
                )));
            }
        }
        // Only `Complete` is an answer: anything else for any query means the counts are
        // not known, and an unknown count is never read as quiet.
        for q in &queries {
            let qid = q.id().unwrap_or_default();
            let answer = answers.get(qid);
            let status = answer.and_then(|a| a.status.as_ref());
            if status != Some(&StatusCode::Complete) {
                let said = answer
                    .map(|a| a.messages.join("; "))
                    .filter(|m| !m.is_empty())
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                return Err(self.fail(format!(
                    "GetMetricData answered {} for query {qid}{said}: the counts are not known, so nothing can be proven; try again later",
                    status.map_or("no result", |s| s.as_str())
                )));
            }
        }
        let count = |qid: &str| {
            answers
                .get(qid)
                .map_or(0, |a| a.sum.round().max(0.0) as u64)
        };
        Ok(version_ids
            .iter()
            .enumerate()
            .map(|(v, version)| VersionCount {
                version_id: (*version).to_owned(),
                total: count(&id(v, None)),
                by_edge: EDGES
                    .iter()
                    .enumerate()
                    .map(|(e, edge)| ((*edge).to_owned(), count(&id(v, Some(e)))))
                    .filter(|(_, n)| *n > 0)
                    .collect(),
                newest: answers.get(&id(v, None)).and_then(|a| a.newest).map(|t| {
                    t.duration_since(UNIX_EPOCH)
                        .unwrap_or(Duration::ZERO)
                        .as_secs()
                }),
            })
            .collect())
    }
}
