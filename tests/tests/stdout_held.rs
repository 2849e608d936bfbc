//! The log driver holds stdout (awslogs in `blocking` mode while CloudWatch Logs is slow):
//! a write to a full pipe waits. The template runs the proxy's driver that way so that no
//! embedded-metric record is ever dropped (docs/proxy.md). This holds the proxy's stdout
//! pipe undrained while it logs far more than the pipe holds: every request must still be
//! answered (no runtime worker waits on a log line), and once stdout drains again the
//! records must count every accepted request (none lost while it was held).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use edgeguard_tests::proxy::Builder;
use edgeguard_tests::upstream::Upstream;
use edgeguard_tests::{client, poll, secret_like};

const H: &str = "x-origin-verify";

/// Rejected requests, each logged at debug (about 200 bytes a line): 2,000 of them are
/// six times what a Linux pipe holds (64 KiB).
const REJECTED: usize = 2000;
const ACCEPTED: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_stdout_stalls_no_request_and_loses_no_count() {
    let value = secret_like('s');
    let upstream = Upstream::start().await;
    let held = Arc::new(AtomicBool::new(false));
    let proxy = Builder::new("env:EDGEGUARD_TEST_VALUE")
        .env("EDGEGUARD_TEST_VALUE", &value)
        .env("EDGEGUARD_LOG", "debug,aws=warn,hyper=warn")
        .arg("--upstream", &upstream.url())
        .arg("--emf", "stdout")
        .arg("--emf-interval", "1s")
        // One worker, as a sidecar's usual share of a task: whatever blocks it blocks all.
        .arg("--worker-threads", "1")
        .stdout_held_by(held.clone())
        .spawn()
        .await;
    proxy.wait_ready().await;

    held.store(true, Ordering::Relaxed);
    // Each answered within the client's 20 s, or the test fails: a worker blocked on a
    // log line would hold every request behind it.
    for i in 0..REJECTED {
        let reply = client::get(proxy.enforcing(), &format!("/r{i}"), &[]).await;
        assert_eq!(reply.status, 403);
    }
    for i in 0..ACCEPTED {
        let reply = client::get(proxy.enforcing(), &format!("/a{i}"), &[(H, &value)]).await;
        assert_eq!(reply.status, 200);
    }
    // Intervals pass while stdout is held: the records of those intervals wait.
    let before = proxy.output();
    tokio::time::sleep(Duration::from_secs(3)).await; // three EMF intervals pass while held
    held.store(false, Ordering::Relaxed);

    let counted = poll(
        Duration::from_secs(30),
        "every accepted request in the records",
        || {
            let total = accepted_in(&proxy.output());
            std::future::ready((total == ACCEPTED).then_some(total))
        },
    )
    .await;
    assert_eq!(counted, ACCEPTED);
    assert!(
        accepted_in(&before) < ACCEPTED,
        "the records had not all been read while stdout was held"
    );
    assert!(
        !proxy.output().contains(&value),
        "the value is never in the output"
    );
}

/// The sum of `AcceptedRequests` in the EMF records among `output`'s lines.
fn accepted_in(output: &str) -> u64 {
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r.get("_aws").is_some())
        .filter_map(|r| r.get("AcceptedRequests").and_then(|v| v.as_u64()))
        .sum()
}
