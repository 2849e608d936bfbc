//! How the proxy holds connections to the app: a keep-alive client connection gets one
//! of its own from its second request; first and one-shot requests use the shared pool;
//! an HTTP/2 connection has a bounded set of its own; an unused one is closed after the
//! pool idle timeout; no request is lost when the app closes one.

use std::time::Duration;

use edgeguard_tests::client::{self, KeepAlive};
use edgeguard_tests::fixture::Fixture;
use edgeguard_tests::poll;
use edgeguard_tests::tls::H2;
use edgeguard_tests::upstream::Upstream;

const H: &str = "x-origin-verify";

async fn wait_closed(upstream: &Upstream, n: usize, what: &str) {
    poll(Duration::from_secs(5), what, || {
        std::future::ready((upstream.closed() >= n).then_some(()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_client_connection_gets_its_own_upstream_connection_from_its_second_request() {
    let f = Fixture::start(|b| b).await;
    let addr = f.proxy.enforcing();
    let mut clients = [
        KeepAlive::connect(addr).await,
        KeepAlive::connect(addr).await,
    ];
    // First requests: both through the pool, which opens one connection for them.
    for c in &mut clients {
        let (status, _, body) = c.get("/", &[(H, &f.a)]).await.unwrap();
        assert_eq!((status, &body[..]), (200, &b"ok\n"[..]));
    }
    assert_eq!(f.upstream.opened(), 1, "first requests share the pool");
    // Later requests: each client connection on its own upstream connection.
    for round in 0..3 {
        for c in &mut clients {
            let (status, _, _) = c.get("/", &[(H, &f.a)]).await.unwrap();
            assert_eq!(status, 200, "round {round}");
        }
    }
    assert_eq!(
        f.upstream.opened(),
        3,
        "the pool's, then one per client connection"
    );

    // `Connection: close` requests, one after another: the pool's connection again.
    for _ in 0..3 {
        let reply = client::get(addr, "/", &[(H, &f.a)]).await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(
        f.upstream.opened(),
        3,
        "one-shot requests reuse the pool's connection"
    );

    // A client connection that closes takes its upstream connection with it.
    drop(clients);
    wait_closed(&f.upstream, 2, "the 2 paired connections to close").await;
    assert_eq!(f.upstream.seen().len(), 11);
    assert!(f.upstream.seen().iter().all(|s| s.headers.get(H).is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_sends_its_streams_over_a_bounded_set_of_its_own() {
    // The pool keeps its connections for the whole test: only the set's close.
    let f = Fixture::start(|b| b.arg("--upstream-pool-idle-timeout", "60s")).await;
    let stream = tokio::net::TcpStream::connect(f.proxy.enforcing())
        .await
        .unwrap();
    let h2 = H2::handshake(stream).await.unwrap();
    for _ in 0..3 {
        assert_eq!(h2.get("/", &[(H, &f.a)]).await.unwrap(), 200);
    }
    assert_eq!(
        f.upstream.opened(),
        1,
        "one at a time: one connection, reused"
    );

    // 20 streams at once, each held by the app long enough for all to be in flight
    // together: the set's one, 15 more (16 in all), and 4 through the pool.
    let streams: Vec<_> = (0..20)
        .map(|_| {
            let (h2, a) = (h2.clone(), f.a.clone());
            tokio::spawn(async move { h2.get("/slow?ms=1500", &[(H, &a)]).await })
        })
        .collect();
    for stream in streams {
        assert_eq!(stream.await.unwrap().unwrap(), 200);
    }
    assert_eq!(
        f.upstream.opened(),
        20,
        "at most 16 of its own, the rest pooled"
    );
    assert_eq!(f.upstream.closed(), 0);

    // Closing the client connection closes its own, not the pool's.
    drop(h2);
    wait_closed(&f.upstream, 16, "the set's 16 connections to close").await;
    assert_eq!(f.upstream.closed(), 16);
    assert!(f.upstream.seen().iter().all(|s| s.headers.get(H).is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_closing_its_connection_costs_no_request() {
    // The app closes connections idle for 500 ms, like Node's keep-alive timeout (5 s).
    let upstream = Upstream::start_with(Some(Duration::from_millis(500))).await;
    let f = Fixture::start_with(upstream, |b| b).await;
    let mut c = KeepAlive::connect(f.proxy.enforcing()).await;
    let mut get = async |path: &str| c.get(path, &[(H, &f.a)]).await.unwrap().0;

    assert_eq!(get("/").await, 200, "through the pool");
    // The paired connection, closed by the app with its response...
    assert_eq!(get("/close").await, 200);
    // ...is replaced for the next request on the same client connection.
    assert_eq!(get("/").await, 200);
    assert_eq!(f.upstream.opened(), 3);

    // Closed while idle: wait until the app has closed both the pool's and the paired
    // connection, then ask again.
    wait_closed(&f.upstream, 3, "the app to close its idle connections").await;
    assert_eq!(get("/").await, 200);
    assert_eq!(f.upstream.opened(), 4);
    assert!(c.closed_at().is_none(), "the client connection stays open");
    let m = f.proxy.metrics().await;
    for kind in ["timeout", "connect", "other"] {
        let zero = format!("edgeguard_upstream_errors_total{{kind=\"{kind}\"}} 0");
        assert!(m.contains(&zero), "{m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_connection_unused_for_the_pool_idle_timeout_is_closed() {
    // Long enough that a busy test machine does not age the connection between requests.
    let f = Fixture::start(|b| b.arg("--upstream-pool-idle-timeout", "1s")).await;
    let mut c = KeepAlive::connect(f.proxy.enforcing()).await;
    for _ in 0..3 {
        let (status, _, _) = c.get("/", &[(H, &f.a)]).await.unwrap();
        assert_eq!(status, 200);
    }
    assert_eq!(
        f.upstream.opened(),
        2,
        "the pool's, then the paired one, reused"
    );

    // Both the pooled and the paired connection close by themselves...
    wait_closed(&f.upstream, 2, "the proxy to close its idle connections").await;
    assert!(c.closed_at().is_none(), "the client connection stays open");
    // ...and the next request opens a new one.
    let (status, _, _) = c.get("/", &[(H, &f.a)]).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(f.upstream.opened(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_its_own_connection_an_unreachable_app_is_502_a_slow_one_504_and_the_next_request_recovers()
 {
    let closed = edgeguard_tests::closed_port();
    let f = Fixture::start(|b| {
        b.arg("--upstream", &format!("http://{closed}"))
            .arg("--upstream-connect-timeout", "500ms")
    })
    .await;
    let mut c = KeepAlive::connect(f.proxy.enforcing()).await;
    // The first through the pool, the second on the client connection's own.
    for _ in 0..2 {
        assert_eq!(c.get("/", &[(H, &f.a)]).await.unwrap().0, 502);
    }
    let connect_errors = "edgeguard_upstream_errors_total{kind=\"connect\"}";
    assert_eq!(f.proxy.metric(connect_errors).await, 2.0);
    assert!(c.closed_at().is_none(), "a 502 keeps the client connection");

    let slow = Fixture::start(|b| b.arg("--upstream-timeout", "300ms")).await;
    let mut c = KeepAlive::connect(slow.proxy.enforcing()).await;
    let mut get = async |path: &str| c.get(path, &[(H, &slow.a)]).await.unwrap().0;
    assert_eq!(get("/").await, 200, "through the pool");
    assert_eq!(get("/slow?ms=5000").await, 504, "on its own connection");
    // The timed-out exchange closed that connection; the next request opens another.
    assert_eq!(get("/").await, 200);
    assert_eq!(slow.upstream.opened(), 3);
    let timeouts = "edgeguard_upstream_errors_total{kind=\"timeout\"}";
    assert_eq!(slow.proxy.metric(timeouts).await, 1.0);
}

/// The paired connection's response deadline is kept lazily by its driver's one timer
/// (`proxy/src/paired.rs`). With an idle limit far longer than the timeout, a driver
/// that, on a busy connection, slept to the next idle check would let the app's answer
/// (after 20 s) through: only a deadline kept on time gives the 504. The slow body (a
/// prompt head, then 500 ms) is no timeout, and it leaves the driver's timer set while
/// the connection is busy but no head is awaited: the case that exposes such a driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paired_exchange_times_out_at_its_own_deadline_not_at_the_idle_check() {
    let f = Fixture::start(|b| {
        b.arg("--upstream-timeout", "300ms")
            .arg("--upstream-pool-idle-timeout", "60s")
            // The single-threaded scheduler: the driver's timer and the exchange share it.
            .arg("--worker-threads", "1")
    })
    .await;
    let mut c = KeepAlive::connect(f.proxy.enforcing()).await;
    let mut get = async |path: &str| c.get(path, &[(H, &f.a)]).await.unwrap();
    assert_eq!(get("/").await.0, 200, "through the pool");
    let (status, _, body) = get("/slow-body?ms=500").await;
    assert_eq!((status, &body[..]), (200, &b"slow body done\n"[..]));
    assert_eq!(f.upstream.opened(), 2, "the pool's and its own");
    assert_eq!(get("/slow?ms=20000").await.0, 504, "on its own connection");
    assert_eq!(
        get("/slow?ms=20000").await.0,
        504,
        "on its next own connection"
    );
    assert_eq!(get("/").await.0, 200);
    // Each timeout closed its connection, so two more were opened.
    assert_eq!(f.upstream.opened(), 4);
    let timeouts = "edgeguard_upstream_errors_total{kind=\"timeout\"}";
    assert_eq!(f.proxy.metric(timeouts).await, 2.0);
}
