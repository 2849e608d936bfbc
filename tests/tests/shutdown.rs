//! SIGTERM (what ECS sends to stop a task): drain in-flight requests, then exit 0.

use std::time::{Duration, Instant};

use edgeguard_tests::client::KeepAlive;
use edgeguard_tests::fixture::Fixture;
use edgeguard_tests::poll;

const H: &str = "x-origin-verify";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_zero() {
    // On the single-threaded scheduler (one worker), whose drain runs on the one thread.
    let mut f = Fixture::start(|b| {
        b.arg("--shutdown-grace", "10s")
            .arg("--worker-threads", "1")
    })
    .await;
    let mut slow = KeepAlive::connect(f.proxy.enforcing()).await;
    let mut idle = KeepAlive::connect(f.proxy.enforcing()).await;
    assert_eq!(idle.get("/", &[(H, &f.a)]).await.unwrap().0, 200);

    let a = f.a.clone();
    let in_flight = tokio::spawn(async move {
        let reply = slow.get("/slow?ms=1500", &[(H, &a)]).await;
        (reply, slow)
    });
    poll(
        Duration::from_secs(10),
        "the slow request to reach the upstream",
        || std::future::ready((!f.upstream.seen_at("/slow").is_empty()).then_some(())),
    )
    .await;

    f.proxy.signal(libc::SIGTERM);
    // Draining: not ready any more, the idle keep-alive connection is closed, and no
    // new connection is accepted.
    poll(Duration::from_secs(10), "/ready to turn 503", || async {
        (f.proxy.ready_status().await == 503).then_some(())
    })
    .await;
    idle.wait_closed(Duration::from_secs(10)).await;
    let enforcing = f.proxy.enforcing();
    poll(
        Duration::from_secs(10),
        "the listener to close",
        || async move {
            tokio::net::TcpStream::connect(enforcing)
                .await
                .err()
                .map(|_| ())
        },
    )
    .await;

    let (reply, _conn) = in_flight.await.unwrap();
    let (status, connection, body) = reply.expect("the in-flight request completes");
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"slow done\n");
    assert_eq!(
        connection.as_deref(),
        Some("close"),
        "keep-alive ends with Connection: close"
    );

    let status = f.proxy.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", f.proxy.output());
    assert!(f.proxy.output().contains("drained; exiting"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_grace_bounds_the_drain() {
    let mut f = Fixture::start(|b| b.arg("--shutdown-grace", "500ms")).await;
    let a = f.a.clone();
    let addr = f.proxy.enforcing();
    let stuck = tokio::spawn(async move {
        let mut conn = KeepAlive::connect(addr).await;
        conn.get("/slow?ms=60000", &[(H, &a)]).await.map(|r| r.0)
    });
    poll(
        Duration::from_secs(10),
        "the slow request to reach the upstream",
        || std::future::ready((!f.upstream.seen_at("/slow").is_empty()).then_some(())),
    )
    .await;
    let start = Instant::now();
    f.proxy.signal(libc::SIGTERM);
    let status = f.proxy.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "exited after {:?}",
        start.elapsed()
    );
    assert!(
        stuck.await.unwrap().is_err(),
        "the request cut off by the grace fails"
    );
    assert!(f.proxy.output().contains("shutdown grace over"));
}

/// The same over HTTP/2 (served by `h2_server`): the stream in flight finishes, the
/// connection gets GOAWAY and closes, the proxy exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_http2_stream_in_flight_finish() {
    use edgeguard_tests::h2_frames::{self, GOAWAY, HEADERS};

    let mut f = Fixture::start(|b| b.arg("--shutdown-grace", "10s")).await;
    let c = h2_frames::Conn::connect(f.proxy.enforcing()).await;
    let fields = [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/slow-body?ms=1500"),
        (":authority", "app.example.com"),
        (H, f.a.as_str()),
    ];
    c.headers(1, &fields, true);
    assert_eq!(c.answer(1).await.kind, HEADERS, "the response head");
    f.proxy.signal(libc::SIGTERM);
    let frames = poll(Duration::from_secs(10), "the body's end and GOAWAY", || {
        let frames = c.frames();
        let ended = frames.iter().any(|fr| {
            fr.stream == 1 && fr.kind == h2_frames::DATA && fr.flags & h2_frames::END_STREAM != 0
        });
        let goaway = frames.iter().any(|fr| fr.kind == GOAWAY);
        std::future::ready((ended && goaway).then_some(frames))
    })
    .await;
    let body: Vec<u8> = frames
        .iter()
        .filter(|fr| fr.stream == 1 && fr.kind == h2_frames::DATA)
        .flat_map(|fr| fr.payload.clone())
        .collect();
    assert_eq!(&body[..], b"slow body done\n");
    let status = f.proxy.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", f.proxy.output());
    assert!(f.proxy.output().contains("drained; exiting"));
}
