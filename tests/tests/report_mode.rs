//! Report mode through the real binary, with raw requests: what enforcing would refuse is
//! forwarded without the header, counted, and logged without any value; nothing loaded is
//! forwarded too; enforce is unchanged; no secret value in any output (trace level).

use std::time::{Duration, Instant};

use edgeguard_tests::client::{self, raw};
use edgeguard_tests::fixture::Fixture;
use edgeguard_tests::proxy::{Builder, run_to_exit};
use edgeguard_tests::upstream::Upstream;
use edgeguard_tests::{poll, tls};

const H: &str = "x-origin-verify";
const REPORTED: &str = "edgeguard_requests_total{listener=\"enforcing\",outcome=\"reported\"}";
const SAMPLE_LINE: &str = "report mode: forwarded a request that enforcing would refuse";

fn head(path: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut text = format!("GET {path} HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n");
    for (name, value) in fields {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// Output lines of the proxy that contain every one of `parts`.
fn lines_with(output: &str, parts: &[&str]) -> usize {
    output
        .lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_enforcing_would_refuse_is_forwarded_without_the_header_counted_and_told() {
    let f = Fixture::start(|b| {
        b.arg("--mode", "report")
            .env("EDGEGUARD_LOG", "trace")
            .arg("--emf", "stdout")
            .arg("--emf-interval", "1s")
    })
    .await;
    let at = f.proxy.enforcing();
    let candidate = "candidate-value-Zr8QmT2wX";
    let query_token = "query-token-Hq5Lx0Pn";
    let partner = [
        ("User-Agent", "partner-batch/2.1"),
        ("X-Forwarded-For", "198.51.100.7, 203.0.113.9"),
    ];
    let cloudfront = [
        ("Via", "1.1 d111abc.cloudfront.net (CloudFront)"),
        ("X-Amz-Cf-Id", "cf-request-1=="),
    ];
    let joined = format!("junk, {}", f.a);
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/r/missing", partner.to_vec()),
        ("/r/cloudfront", cloudfront.to_vec()),
        ("/r/mismatch", vec![(H, candidate)]),
        ("/r/joined", vec![(H, joined.as_str())]),
        ("/r/duplicate", vec![(H, f.a.as_str()), (H, f.b.as_str())]),
    ];
    for (path, fields) in &cases {
        let target = format!("{path}?token={query_token}");
        let reply = raw(at, &head(&target, fields)).await;
        assert_eq!(reply.status, 200, "{path}: forwarded, not refused");
        let seen = f.upstream.seen_at(path);
        assert_eq!(seen.len(), 1, "{path} reached the app once");
        assert!(
            seen[0].headers.get(H).is_none(),
            "{path}: the app never gets the header, whatever its value"
        );
    }
    // Accepted, health path and the internal listener are what they always were.
    assert_eq!(raw(at, &head("/ok", &[(H, &f.a)])).await.status, 200);
    assert_eq!(raw(at, &head("/healthz", &[])).await.status, 200);
    assert_eq!(
        raw(f.proxy.internal(), &head("/inside", &[])).await.status,
        200
    );
    // A request that is not well formed is refused as ever, reported or not.
    let no_host = b"GET /r/no-host HTTP/1.1\r\nConnection: close\r\n\r\n";
    assert_eq!(raw(at, no_host).await.status, 400);
    assert!(f.upstream.seen_at("/r/no-host").is_empty());
    // HTTP/2 without the header: forwarded too.
    let h2 = tokio::net::TcpStream::connect(at).await.unwrap();
    let statuses = tls::h2_gets(h2, &[("/r/h2", vec![])]).await.unwrap();
    assert_eq!(statuses, [200]);
    assert!(f.upstream.seen_at("/r/h2")[0].headers.get(H).is_none());

    let m = |series: &'static str| f.proxy.metric(series);
    assert_eq!(m(REPORTED).await, (cases.len() + 1) as f64);
    assert_eq!(
        m("edgeguard_requests_total{listener=\"enforcing\",outcome=\"accepted\"}").await,
        1.0
    );
    assert_eq!(
        m("edgeguard_requests_total{listener=\"enforcing\",outcome=\"rejected\"}").await,
        0.0
    );
    // Counted as when enforcing: the request without `Host` failed the check too (then it
    // was refused for its form, and not reported).
    assert_eq!(
        m("edgeguard_rejections_total{reason=\"missing\"}").await,
        4.0
    );
    assert_eq!(
        m("edgeguard_rejections_total{reason=\"mismatch\"}").await,
        2.0
    );
    assert_eq!(
        m("edgeguard_rejections_total{reason=\"duplicate\"}").await,
        1.0
    );
    assert_eq!(m("edgeguard_enforcing").await, 0.0);

    // Who sent them: a line per reason, with the sender's marks and no value.
    poll(
        Duration::from_secs(10),
        "EMF records by reason and edge",
        || {
            let out = f.proxy.output();
            std::future::ready(
                (lines_with(&out, &["\"RejectedRequests\"", "\"Edge\":\"cloudfront\""]) > 0
                    && lines_with(&out, &["\"NotEnforcing\":1"]) > 0)
                    .then_some(()),
            )
        },
    )
    .await;
    let out = f.proxy.output();
    assert!(
        out.contains("requests that fail the header check are FORWARDED"),
        "the warning at start:\n{out}"
    );
    assert!(
        lines_with(
            &out,
            &[
                SAMPLE_LINE,
                "\"reason\":\"missing\"",
                "\"client\":\"203.0.113.9\"",
                "\"user_agent\":\"partner-batch/2.1\"",
                "\"path\":\"/r/missing\"",
                "\"method\":\"GET\"",
                "\"edge\":\"other\"",
            ]
        ) == 1,
        "the first missing one is told, with who sent it:\n{out}"
    );
    for reason in ["mismatch", "duplicate"] {
        assert!(
            lines_with(&out, &[SAMPLE_LINE, &format!("\"reason\":\"{reason}\"")]) >= 1,
            "{reason} is told:\n{out}"
        );
    }
    let metrics = f.proxy.metrics().await;
    for secret in [f.a.as_str(), f.b.as_str(), candidate, query_token] {
        assert!(!out.contains(secret), "a value leaked into the output");
        assert!(!metrics.contains(secret), "a value leaked into the metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_one_line_a_second_per_reason_however_many_are_forwarded() {
    let f = Fixture::start(|b| b.arg("--mode", "report")).await;
    let at = f.proxy.enforcing();
    let started = Instant::now();
    let burst = 40;
    for i in 0..burst {
        let reply = raw(at, &head(&format!("/burst/{i}"), &[])).await;
        assert_eq!(reply.status, 200);
    }
    let seconds = started.elapsed().as_secs();
    let told = lines_with(&f.proxy.output(), &[SAMPLE_LINE, "\"reason\":\"missing\""]);
    assert!(told >= 1, "the first one is told");
    // Seconds started during the burst, each with one line at most.
    assert!(
        told as u64 <= seconds + 1,
        "{told} lines for {burst} requests in {seconds} s"
    );
    assert_eq!(f.proxy.metric(REPORTED).await, f64::from(burst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_loaded_report_mode_forwards_and_enforce_refuses() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let absent = format!("file:{}", dir.path().join("not-yet").display());
    for (mode, status) in [("report", 200), ("enforce", 503)] {
        let proxy = Builder::new(&absent)
            .arg("--upstream", &upstream.url())
            .arg("--mode", mode)
            .spawn()
            .await;
        assert_eq!(proxy.ready_status().await, 503, "{mode}: never ready");
        let path = format!("/unloaded/{mode}");
        let reply = raw(proxy.enforcing(), &head(&path, &[(H, "some-value")])).await;
        assert_eq!(reply.status, status, "{mode}");
        let seen = upstream.seen_at(&path);
        assert_eq!(seen.len(), usize::from(status == 200), "{mode}");
        assert!(seen.iter().all(|s| s.headers.get(H).is_none()));
        let outcome = if mode == "report" {
            "reported"
        } else {
            "unavailable"
        };
        let series =
            format!("edgeguard_requests_total{{listener=\"enforcing\",outcome=\"{outcome}\"}}");
        assert_eq!(proxy.metric(&series).await, 1.0, "{mode}");
        if mode == "report" {
            let out = proxy.output();
            assert_eq!(
                lines_with(&out, &[SAMPLE_LINE, "\"reason\":\"nothing_loaded\""]),
                1,
                "{out}"
            );
            assert!(!out.contains("some-value"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_is_unchanged_and_says_nothing_of_report_mode() {
    let f = Fixture::start(|b| b).await;
    let at = f.proxy.enforcing();
    assert_eq!(raw(at, &head("/e/missing", &[])).await.status, 403);
    assert_eq!(client::get(at, "/e/ok", &[(H, &f.a)]).await.status, 200);
    assert!(f.upstream.seen_at("/e/missing").is_empty());
    assert_eq!(f.proxy.metric("edgeguard_enforcing").await, 1.0);
    assert_eq!(f.proxy.metric(REPORTED).await, 0.0);
    assert!(!f.proxy.output().contains("report mode"));
}

#[test]
fn a_mode_other_than_enforce_or_report_is_a_configuration_error() {
    for (args, env) in [
        (vec!["--secret-source", "env:X", "--mode", "audit"], vec![]),
        (
            vec!["--secret-source", "env:X"],
            vec![("EDGEGUARD_MODE", "Report")],
        ),
    ] {
        let (code, text) = run_to_exit(&args, &env);
        assert_eq!(code, 64, "{text}");
        assert!(text.contains("--mode (EDGEGUARD_MODE)"), "{text}");
    }
}
