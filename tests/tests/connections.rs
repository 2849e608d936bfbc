//! Connection-level limits: idle keep-alive, slowloris, oversized heads, connection cap.
//!
//! These tests let time pass on purpose (the thing under test is a timeout), with small
//! configured values; they assert bounds with slack, never exact timings.

use std::time::{Duration, Instant};

use edgeguard_tests::client::{self, KeepAlive};
use edgeguard_tests::fixture::Fixture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const H: &str = "x-origin-verify";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_lives_until_the_idle_timeout_and_no_longer() {
    let idle = Duration::from_secs(3);
    let f = Fixture::start(|b| {
        b.arg("--idle-timeout", "3s")
            .arg("--header-read-timeout", "1s")
    })
    .await;
    let mut conn = KeepAlive::connect(f.proxy.enforcing()).await;
    assert_eq!(conn.get("/", &[(H, &f.a)]).await.unwrap().0, 200);

    // Idle for twice the header-read timeout: hyper's own timer would have closed it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(conn.closed_at().is_none(), "closed before the idle timeout");
    assert_eq!(conn.get("/", &[(H, &f.a)]).await.unwrap().0, 200);
    let last_response = Instant::now();

    let closed = conn.wait_closed(Duration::from_secs(15)).await;
    let lived = closed - last_response;
    assert!(
        lived >= idle - Duration::from_millis(100),
        "closed after {lived:?}, before the idle timeout"
    );
    assert!(
        lived <= idle + Duration::from_millis(1500),
        "still open {lived:?} after the last response"
    );
    assert_eq!(
        f.proxy
            .metric("edgeguard_connection_timeouts_total{listener=\"enforcing\"}")
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_sent_slowly_is_cut_off_at_the_header_read_timeout() {
    let f = Fixture::start(|b| {
        b.arg("--header-read-timeout", "1s")
            .arg("--idle-timeout", "30s")
    })
    .await;
    let mut stream = TcpStream::connect(f.proxy.enforcing()).await.unwrap();
    let (mut read, mut write) = stream.split();
    let start = Instant::now();
    // Slowloris: one header line every 100 ms, never finishing the head.
    let trickle = async {
        write.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await?;
        for i in 0..200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            write
                .write_all(format!("x-pad-{i}: y\r\n").as_bytes())
                .await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let mut sink = Vec::new();
    let closed = async { read.read_to_end(&mut sink).await };
    tokio::select! {
        _ = trickle => panic!("the proxy kept reading a head for 20 s"),
        _ = closed => {}
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "closed too late: {took:?}");
    assert!(f.upstream.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_head_gets_431() {
    let f = Fixture::start(|b| b.arg("--max-header-bytes", "8192")).await;
    let big = "z".repeat(10_000);
    let reply = client::get(f.proxy.enforcing(), "/", &[(H, &f.a), ("x-big", &big)]).await;
    assert_eq!(reply.status, 431);
    let fits = "z".repeat(4_000);
    assert_eq!(
        client::get(f.proxy.enforcing(), "/", &[(H, &f.a), ("x-big", &fits)])
            .await
            .status,
        200
    );
    assert_eq!(f.upstream.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let f = Fixture::start(|b| b.arg("--max-connections", "2")).await;
    let mut first = KeepAlive::connect(f.proxy.enforcing()).await;
    let mut second = KeepAlive::connect(f.proxy.enforcing()).await;
    assert_eq!(first.get("/", &[(H, &f.a)]).await.unwrap().0, 200);
    assert_eq!(second.get("/", &[(H, &f.a)]).await.unwrap().0, 200);

    let mut third = KeepAlive::connect(f.proxy.enforcing()).await;
    let a = f.a.clone();
    let waiting = tokio::spawn(async move { third.get("/", &[(H, &a)]).await.map(|r| r.0) });
    // Not served while both slots are taken (the connection waits in the backlog).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection was served over the limit"
    );
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.unwrap(), 200);
}

/// An HTTP/2 connection (served by `h2_server`) with no stream in progress is closed at the
/// idle timeout too, counted like an HTTP/1.1 one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_at_the_idle_timeout() {
    use edgeguard_tests::h2_frames::{self, HEADERS};

    let f = Fixture::start(|b| b.arg("--idle-timeout", "2s")).await;
    let c = h2_frames::Conn::connect(f.proxy.enforcing()).await;
    let fields = [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "app.example.com"),
        (H, f.a.as_str()),
    ];
    c.headers(1, &fields, true);
    assert_eq!(c.answer(1).await.kind, HEADERS);
    let answered = Instant::now();
    edgeguard_tests::poll(
        Duration::from_secs(15),
        "the idle HTTP/2 connection to close",
        || std::future::ready(c.is_closed().then_some(())),
    )
    .await;
    // Not at once: the idle deadline closed it (the metric below says which). A loose
    // bound: this test's own polling may see the answer late on a busy machine.
    assert!(
        answered.elapsed() >= Duration::from_secs(1),
        "closed after {:?}",
        answered.elapsed()
    );
    assert_eq!(
        f.proxy
            .metric("edgeguard_connection_timeouts_total{listener=\"enforcing\"}")
            .await,
        1.0
    );
}
