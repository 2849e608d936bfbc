//! No secret value in any output: trace-level logs, errors, metrics, shutdown.

use std::time::Duration;

use edgeguard_tests::client::{self, raw};
use edgeguard_tests::fixture::Fixture;
use edgeguard_tests::poll;

const H: &str = "x-origin-verify";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_never_appear_in_trace_logs_errors_or_metrics() {
    let f = Fixture::start(|b| {
        b.env("EDGEGUARD_LOG", "trace")
            .arg("--refresh-interval", "200ms")
            .arg("--emf", "stdout")
            .arg("--emf-interval", "1s")
    })
    .await;
    let addr = f.proxy.enforcing();
    let candidate = "rejected-candidate-QpZ8vT4";
    assert_eq!(client::get(addr, "/", &[(H, &f.a)]).await.status, 200);
    assert_eq!(client::get(addr, "/", &[(H, &f.b)]).await.status, 200);
    assert_eq!(client::get(addr, "/", &[(H, candidate)]).await.status, 403);
    assert_eq!(
        client::get(addr, "/", &[(H, &f.a), (H, &f.b)]).await.status,
        403
    );
    let joined = format!("junk, {}", f.a);
    assert_eq!(client::get(addr, "/", &[(H, &joined)]).await.status, 403);
    // HTTP/2 (h2c) frames at trace level.
    let h2 = tokio::net::TcpStream::connect(addr).await.unwrap();
    let statuses = edgeguard_tests::tls::h2_gets(
        h2,
        &[("/", vec![(H, f.a.as_str())]), ("/", vec![(H, candidate)])],
    )
    .await
    .unwrap();
    assert_eq!(statuses, [200, 403]);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\n{H}: {}\r\nx-big: {}\r\n\r\n",
        f.a,
        "z".repeat(70_000)
    );
    assert_eq!(raw(addr, big.as_bytes()).await.status, 431);

    // A refresh error about a bad value must name its position, not the value.
    let leaked = "sensitive value-in-a-bad-line";
    f.write_secrets(&format!("{}\n{leaked}\n", f.a));
    poll(
        Duration::from_secs(10),
        "the bad file to be reported",
        || {
            std::future::ready(
                f.proxy
                    .output()
                    .contains("secret refresh failed")
                    .then_some(()),
            )
        },
    )
    .await;
    let metrics = f.proxy.metrics().await;
    // The embedded-metric records (CloudWatch's copy of the counts) are in the output too.
    poll(Duration::from_secs(10), "EMF records of rejections", || {
        std::future::ready(
            f.proxy
                .output()
                .contains("\"RejectedRequests\"")
                .then_some(()),
        )
    })
    .await;
    f.proxy.signal(libc::SIGTERM);
    poll(Duration::from_secs(10), "the drain log line", || {
        std::future::ready(f.proxy.output().contains("drained").then_some(()))
    })
    .await;

    let output = f.proxy.output();
    assert!(
        output.lines().count() > 10,
        "trace logging produced output:\n{output}"
    );
    assert!(
        output.contains("line2"),
        "the bad line is named by position:\n{output}"
    );
    for secret in [f.a.as_str(), f.b.as_str(), candidate, leaked] {
        assert!(!output.contains(secret), "a value leaked into the logs");
        assert!(!metrics.contains(secret), "a value leaked into the metrics");
    }
}
