use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::operation::get_metric_data::{GetMetricDataError, GetMetricDataOutput};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{MessageData, MetricDataResult, StatusCode};
use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::*;
use crate::config::EvidenceSource;

fn settings() -> Evidence {
    Evidence {
        sources: vec![source(None)],
        quiet_period: Duration::from_secs(600),
        timeout: Duration::from_secs(7200),
        emf_interval: Duration::from_secs(60),
        ingestion_margin: Duration::from_secs(300),
    }
}

fn source(account: Option<&str>) -> EvidenceSource {
    EvidenceSource {
        role_arn: None,
        external_id: None,
        namespace: "edgeguard".into(),
        region: None,
        account: account.map(str::to_owned),
    }
}

/// 2026-12-05 12:34:56 UTC.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_474_096)
}

fn at(secs_before_now: u64) -> SystemTime {
    now() - Duration::from_secs(secs_before_now)
}

fn count(id: &str, total: u64, newest: Option<SystemTime>) -> VersionCount {
    VersionCount {
        version_id: id.into(),
        total,
        by_edge: vec![],
        newest: newest.map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs()),
    }
}

#[test]
fn the_window_covers_the_quiet_period_and_the_blind_part_in_whole_minutes() {
    let w = Window::at(&settings(), now());
    // 12:34:56 less 10m quiet and 6m blind = 12:18:56, rounded down: 12:18:00.
    assert_eq!(w.from, floor_minute(at(16 * 60)));
    assert_eq!(w.from.duration_since(UNIX_EPOCH).unwrap().as_secs() % 60, 0);
    // EndTime is exclusive: the end of the current minute, so the newest datapoint counts.
    assert_eq!(w.to, floor_minute(now()) + Duration::from_secs(60));
    // Fresh: a request in the newest 5 minutes CloudWatch can show (before the blind 6m).
    assert_eq!(w.fresh_since, floor_minute(at(11 * 60)));
    assert_eq!(w.span(), Duration::from_secs(17 * 60));
}

#[test]
fn the_gate_decides_each_case() {
    let w = Window::at(&settings(), now());
    let fresh = Some(at(7 * 60));
    // No data at all: no proof the fleet reports.
    assert_eq!(
        judge(&count("c", 0, None), Some(&count("p", 0, None)), &w),
        Verdict::NoReports
    );
    assert_eq!(judge(&count("c", 0, None), None, &w), Verdict::NoReports);
    // A single request with the old value is enough to refuse, however recent (in the
    // blind part too), current traffic or not.
    assert_eq!(
        judge(
            &count("c", 500, fresh),
            Some(&count("p", 1, Some(at(30)))),
            &w
        ),
        Verdict::PreviousInUse
    );
    assert_eq!(
        judge(&count("c", 0, None), Some(&count("p", 3, fresh)), &w),
        Verdict::PreviousInUse
    );
    // AWSCURRENT only at the start of the window: the fleet stopped reporting.
    assert_eq!(
        judge(
            &count("c", 900, Some(at(15 * 60))),
            Some(&count("p", 0, None)),
            &w
        ),
        Verdict::Stale
    );
    // Quiet: previous unused, current in use in the newest part (one request is enough).
    assert_eq!(
        judge(&count("c", 1, fresh), Some(&count("p", 0, None)), &w),
        Verdict::Quiet
    );
    assert_eq!(
        judge(&count("c", 1, Some(w.fresh_since)), None, &w),
        Verdict::Quiet
    );
}

#[test]
fn every_source_must_be_quiet() {
    let w = Window::at(&settings(), now());
    let quiet = SourceReport::new(
        "cloudwatch eu-west-1 a",
        &[count("c", 5, Some(at(400)))],
        "c",
        Some("p"),
        &w,
    );
    let busy = SourceReport::new(
        "cloudwatch us-east-1 b",
        &[count("c", 5, Some(at(400))), count("p", 2, Some(at(60)))],
        "c",
        Some("p"),
        &w,
    );
    assert_eq!(quiet.verdict, Verdict::Quiet);
    let both = Report::new(&settings(), &w, vec![quiet.clone(), busy]);
    assert!(!both.quiet());
    let text = both.to_string();
    assert!(
        text.contains("cloudwatch eu-west-1 a: AWSCURRENT c accepted 5"),
        "{text}"
    );
    assert!(text.contains("cloudwatch us-east-1 b: AWSCURRENT c accepted 5, AWSPREVIOUS p accepted 2: AWSPREVIOUS still in use"), "{text}");
    assert!(Report::new(&settings(), &w, vec![quiet]).quiet());
    assert!(
        !Report::new(&settings(), &w, vec![]).quiet(),
        "no source proves nothing"
    );
}

#[test]
fn a_refusal_gives_the_counts_the_edges_and_what_to_do() {
    let w = Window::at(&settings(), now());
    let mut previous = count("v1", 7, Some(at(60)));
    previous.by_edge = vec![("cloudfront".into(), 7)];
    let report = Report::new(
        &settings(),
        &w,
        vec![SourceReport::new(
            "cloudwatch eu-west-1 edgeguard",
            &[count("v2", 40, Some(at(400))), previous],
            "v2",
            Some("v1"),
            &w,
        )],
    );
    let text = report.to_string();
    for part in [
        "last 16m",
        "newest 6m",
        "AWSCURRENT v2 accepted 40",
        "AWSPREVIOUS v1 accepted 7 (cloudfront 7)",
        "still in use",
        "--ignore-evidence",
    ] {
        assert!(text.contains(part), "{part} missing: {text}");
    }
}

#[test]
fn silence_says_why_it_proves_nothing() {
    let w = Window::at(&settings(), now());
    let stale = SourceReport::new(
        "cw",
        &[count("v2", 40, Some(at(14 * 60)))],
        "v2",
        Some("v1"),
        &w,
    );
    let report = Report::new(&settings(), &w, vec![stale]);
    let text = report.to_string();
    assert!(
        text.contains("newest request in CloudWatch is from 14m before this read"),
        "{text}"
    );
    assert!(text.contains("stopped reporting"), "{text}");
    // Proxies on a file: their version is `file`, which proves nothing; the message says so.
    let on_files = SourceReport::new(
        "cw",
        &[count("file", 12, Some(at(400)))],
        "v2",
        Some("v1"),
        &w,
    );
    assert_eq!(on_files.verdict, Verdict::NoReports);
    let text = Report::new(&settings(), &w, vec![on_files]).to_string();
    assert!(
        text.contains("12 request(s) under VersionId=file"),
        "{text}"
    );
    assert!(text.contains("direct = true"), "{text}");
}

fn result(id: &str, points: &[(SystemTime, f64)], status: StatusCode) -> MetricDataResult {
    let mut b = MetricDataResult::builder().id(id).status_code(status);
    for (t, v) in points {
        b = b.timestamps(DateTime::from(*t)).values(*v);
    }
    b.build()
}

/// The GetMetricData path against the SDK's test doubles: moto 5.2 serves CloudWatch's
/// Query and JSON protocols only, and this SDK speaks Smithy RPC v2 CBOR
/// (getmoto/moto#9195), so the emulator cannot answer it.
#[tokio::test]
async fn cloudwatch_is_asked_per_minute_by_version_and_edge_and_pages_are_summed() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in_rule = seen.clone();
    // A query split over two pages: PartialData with a NextToken, then Complete.
    let first = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(move |r| {
            seen_in_rule.lock().unwrap().push(r.clone());
            r.next_token().is_none()
        })
        .then_output(move || {
            GetMetricDataOutput::builder()
                .metric_data_results(result(
                    "v0",
                    &[(at(420), 30.0), (at(480), 12.0)],
                    StatusCode::Complete,
                ))
                .metric_data_results(result("v1", &[(at(900), 2.0)], StatusCode::PartialData))
                .metric_data_results(result("v1e0", &[(at(900), 2.0)], StatusCode::Complete))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(move || {
            let mut out = GetMetricDataOutput::builder()
                .metric_data_results(result("v1", &[(at(120), 1.0)], StatusCode::Complete))
                .metric_data_results(result("v1e2", &[(at(120), 1.0)], StatusCode::Complete));
            for id in ["v0e0", "v0e1", "v0e2", "v1e1"] {
                out = out.metric_data_results(result(id, &[], StatusCode::Complete));
            }
            out.build()
        });
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&first, &second]);
    let witness = CloudWatchWitness::new(client, source(Some("111122223333")));
    let window = Window::at(&settings(), now());
    let counts = witness.accepted(&["cur", "prev"], &window).await.unwrap();
    assert_eq!(counts[0].version_id, "cur");
    assert_eq!(counts[0].total, 42);
    assert_eq!(
        counts[0].newest,
        Some(at(420).duration_since(UNIX_EPOCH).unwrap().as_secs()),
        "the newest minute with a request"
    );
    assert_eq!(counts[1].total, 3, "both pages summed");
    assert_eq!(
        counts[1].by_edge,
        [("cloudfront".to_owned(), 2), ("other".to_owned(), 1)]
    );

    let request = seen.lock().unwrap()[0].clone();
    let start = request.start_time().unwrap().secs();
    let end = request.end_time().unwrap().secs();
    assert_eq!(start % 60, 0, "StartTime on a minute");
    assert_eq!(
        (start as u64, end as u64),
        (
            window.from.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            window.to.duration_since(UNIX_EPOCH).unwrap().as_secs()
        )
    );
    let queries = request.metric_data_queries();
    assert_eq!(queries.len(), 8, "per version: the total and three edges");
    let q = &queries[5];
    assert_eq!(q.id(), Some("v1e0"));
    assert_eq!(
        q.account_id(),
        Some("111122223333"),
        "the monitoring account's source"
    );
    let stat = q.metric_stat().unwrap();
    assert_eq!((stat.stat(), stat.period()), (Some("Sum"), Some(60)));
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

/// Every status but Complete, for any one query, is "cannot prove" (MetricDataResult,
/// Amazon CloudWatch API Reference: PartialData, InternalError, Forbidden).
#[tokio::test]
async fn only_a_complete_answer_counts() {
    for status in [
        StatusCode::InternalError,
        StatusCode::Forbidden,
        StatusCode::PartialData,
    ] {
        let expected = status.as_str().to_owned();
        let answer = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_output(move || {
            let mut out = GetMetricDataOutput::builder();
            for id in ["v0", "v0e0", "v0e1", "v0e2"] {
                let s = if id == "v0e1" {
                    status.clone()
                } else {
                    StatusCode::Complete
                };
                let mut r = MetricDataResult::builder().id(id).status_code(s);
                if id == "v0e1" {
                    r = r.messages(
                        MessageData::builder()
                            .code("x")
                            .value("the source account does not share")
                            .build(),
                    );
                }
                out = out.metric_data_results(r.build());
            }
            out.build()
        });
        let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&answer]);
        let e = CloudWatchWitness::new(client, source(None))
            .accepted(&["cur"], &Window::at(&settings(), now()))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("answered {expected} for query v0e1")),
            "{e}"
        );
        assert!(e.contains("the source account does not share"), "{e}");
        assert!(e.contains("nothing can be proven"), "{e}");
    }
    // A query with no result at all is not an answer either.
    let missing = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .then_output(|| GetMetricDataOutput::builder().build());
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&missing]);
    let e = CloudWatchWitness::new(client, source(None))
        .accepted(&["cur"], &Window::at(&settings(), now()))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("answered no result for query v0"), "{e}");
}

#[tokio::test]
async fn a_failed_read_is_an_error_not_quiet() {
    let throttled = mock!(aws_sdk_cloudwatch::Client::get_metric_data).then_error(|| {
        GetMetricDataError::generic(
            aws_sdk_cloudwatch::error::ErrorMetadata::builder()
                .code("Throttling")
                .message("Rate exceeded")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, [&throttled]);
    let e = CloudWatchWitness::new(client, source(None))
        .accepted(&["cur"], &Window::at(&settings(), now()))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("GetMetricData failed"), "{e}");
}
