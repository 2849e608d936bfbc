//! Secret sources end to end: hot swap, last-good-set on errors, fail-closed start.

use std::time::Duration;

use edgeguard_tests::client::{self, KeepAlive};
use edgeguard_tests::fixture::Fixture;
use edgeguard_tests::proxy::Builder;
use edgeguard_tests::upstream::Upstream;
use edgeguard_tests::{poll, secret_like};

const H: &str = "x-origin-verify";
const LIMIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_file_is_swapped_in_without_restart_or_dropped_connection() {
    let f = Fixture::start(|b| b.arg("--refresh-interval", "200ms")).await;
    let mut conn = KeepAlive::connect(f.proxy.enforcing()).await;
    assert_eq!(conn.get("/", &[(H, &f.a)]).await.unwrap().0, 200);

    let c = secret_like('c');
    f.write_secrets(&format!("{c}\n"));
    // Same connection throughout: the new value is accepted after the next refresh...
    let start = std::time::Instant::now();
    while conn.get("/", &[(H, &c)]).await.unwrap().0 != 200 {
        assert!(start.elapsed() < LIMIT, "the new value was never accepted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...and the old ones are rejected, still on the same connection.
    assert_eq!(conn.get("/", &[(H, &f.a)]).await.unwrap().0, 403);
    assert_eq!(conn.get("/", &[(H, &f.b)]).await.unwrap().0, 403);
    assert!(
        conn.closed_at().is_none(),
        "the swap must not drop the connection"
    );
    assert_eq!(f.proxy.metric("edgeguard_accepted_values").await, 1.0);
    assert!(f.proxy.metric("edgeguard_secret_swaps_total").await >= 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_empty_or_invalid_file_keeps_the_last_good_set() {
    let f = Fixture::start(|b| b.arg("--refresh-interval", "200ms")).await;
    let errors = "edgeguard_secret_refresh_total{result=\"error\"}";
    type Breakage<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let breakages: [Breakage<'_>; 3] = [
        (
            "deleted",
            Box::new(|| std::fs::remove_file(&f.file).unwrap()),
        ),
        (
            "emptied",
            Box::new(|| f.write_secrets("# nothing here\n\n")),
        ),
        (
            "invalid line",
            Box::new(|| f.write_secrets("has a space\n")),
        ),
    ];
    for (what, break_it) in breakages {
        let before = f.proxy.metric(errors).await;
        break_it();
        poll(LIMIT, "a failed refresh to be counted", || async {
            (f.proxy.metric(errors).await > before).then_some(())
        })
        .await;
        let reply = client::get(f.proxy.enforcing(), "/", &[(H, &f.a)]).await;
        assert_eq!(reply.status, 200, "{what}: the last good set must stay");
        assert_eq!(f.proxy.ready_status().await, 200, "{what}: still ready");
    }
    assert!(f.proxy.output().contains("secret refresh failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_loaded_every_request_is_refused_until_a_set_arrives() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-yet");
    let proxy = Builder::new(&format!("file:{}", file.display()))
        .arg("--upstream", &upstream.url())
        .arg("--refresh-interval", "200ms")
        .internal()
        .spawn()
        .await;
    // Fail closed: not ready, and 503 for anything, health checks included.
    assert_eq!(proxy.ready_status().await, 503);
    for (path, fields) in [
        ("/", vec![]),
        ("/", vec![(H, "guess")]),
        ("/healthz", vec![]),
    ] {
        assert_eq!(
            client::get(proxy.enforcing(), path, &fields).await.status,
            503
        );
    }
    assert!(
        upstream.seen().is_empty(),
        "nothing may be forwarded before a set is loaded"
    );
    // The internal listener does not depend on the secret.
    assert_eq!(
        client::get(proxy.internal(), "/internal", &[]).await.status,
        200
    );
    assert_eq!(
        proxy
            .metric("edgeguard_requests_total{listener=\"enforcing\",outcome=\"unavailable\"}")
            .await,
        3.0
    );

    let a = secret_like('a');
    std::fs::write(&file, format!("{a}\n")).unwrap();
    proxy.wait_ready().await;
    assert_eq!(
        client::get(proxy.enforcing(), "/", &[(H, &a)]).await.status,
        200
    );
    assert_eq!(client::get(proxy.enforcing(), "/", &[]).await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_source_accepts_comma_and_newline_separated_values() {
    let upstream = Upstream::start().await;
    let (a, b, c) = (secret_like('a'), secret_like('b'), secret_like('c'));
    let proxy = Builder::new("env:ORIGIN_VERIFY_VALUES")
        .arg("--upstream", &upstream.url())
        .env("ORIGIN_VERIFY_VALUES", &format!("{a}, {b}\n{c}"))
        .spawn()
        .await;
    proxy.wait_ready().await;
    for v in [&a, &b, &c] {
        assert_eq!(
            client::get(proxy.enforcing(), "/", &[(H, v)]).await.status,
            200
        );
    }
    assert_eq!(
        client::get(proxy.enforcing(), "/", &[(H, "nope")])
            .await
            .status,
        403
    );
    assert!(
        proxy
            .metrics()
            .await
            .contains("edgeguard_accepted_matches_total{accepted=\"value3\"} 1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_environment_variable_fails_closed() {
    let proxy = Builder::new("env:NOT_SET_ANYWHERE").spawn().await;
    poll(LIMIT, "a failed refresh to be counted", || async {
        (proxy
            .metric("edgeguard_secret_refresh_total{result=\"error\"}")
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    assert_eq!(proxy.ready_status().await, 503);
    assert_eq!(client::get(proxy.enforcing(), "/", &[]).await.status, 503);
}
