//! `--upstream unix:/path`: the app in the same task listens on a Unix domain socket. The
//! same rules as over TCP: checked, stripped, forwarded with the client's own `Host`; a
//! keep-alive client connection gets its own app connection; an app that is not there is
//! a 502 counted as a connect failure, and the proxy recovers once it is.

use std::time::Duration;

use edgeguard_tests::client::{self, KeepAlive};
use edgeguard_tests::fixture::Fixture;
use edgeguard_tests::poll;
use edgeguard_tests::upstream::Upstream;

const H: &str = "x-origin-verify";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_reach_an_app_on_a_unix_socket_checked_and_stripped() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start_unix(&dir.path().join("app.sock")).await;
    let f = Fixture::start_with(upstream, |b| b).await;

    let reply = client::get(f.proxy.enforcing(), "/orders?id=7", &[(H, &f.a)]).await;
    assert_eq!((reply.status, reply.text()), (200, "ok\n".to_owned()));
    let seen = f.upstream.seen_at("/orders");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path_and_query, "/orders?id=7");
    assert_eq!(
        seen[0].headers["host"], "app.example.com",
        "the client's Host"
    );
    assert!(!seen[0].headers.contains_key(H), "the header is stripped");

    let reply = client::get(f.proxy.enforcing(), "/forged", &[(H, "not-the-value")]).await;
    assert_eq!(reply.status, 403);
    let reply = client::get(f.proxy.enforcing(), "/bare", &[]).await;
    assert_eq!(reply.status, 403);
    assert!(f.upstream.seen_at("/forged").is_empty() && f.upstream.seen_at("/bare").is_empty());

    // The internal listener forwards without the header, to the same socket.
    let reply = client::get(f.proxy.internal(), "/internal", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(f.upstream.seen_at("/internal").len(), 1);

    // A keep-alive client connection: its first request through the pool (whose connection
    // the one-shot requests above opened), the next ones on a socket connection of its own.
    let opened = f.upstream.opened();
    let mut c = KeepAlive::connect(f.proxy.enforcing()).await;
    for i in 0..4 {
        let (status, _, body) = c.get("/kept", &[(H, &f.b)]).await.unwrap();
        assert_eq!((status, &body[..]), (200, &b"ok\n"[..]), "request {i}");
    }
    assert_eq!(
        f.upstream.opened(),
        opened + 1,
        "one connection of its own from the second request"
    );
    assert_eq!(f.upstream.seen_at("/kept").len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_socket_is_a_502_counted_as_connect_and_the_proxy_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.sock");
    // Nothing listens there yet: the upstream's URL only.
    let absent = Upstream::absent_unix(&path);
    let f = Fixture::start_with(absent, |b| b.arg("--upstream-connect-timeout", "1s")).await;
    let reply = client::get(f.proxy.enforcing(), "/", &[(H, &f.a)]).await;
    assert_eq!(
        (reply.status, reply.text()),
        (502, "upstream unreachable\n".into())
    );
    assert_eq!(
        f.proxy
            .metric("edgeguard_upstream_errors_total{kind=\"connect\"}")
            .await,
        1.0
    );
    let log = f.proxy.output();
    assert!(!log.contains(&f.a), "no secret in the log");

    // The app starts: the next request reaches it, with no restart of the proxy.
    let upstream = Upstream::start_unix(&path).await;
    let reply = poll(Duration::from_secs(5), "a request reaches the app", || {
        let addr = f.proxy.enforcing();
        let a = f.a.clone();
        async move {
            let reply = client::get(addr, "/", &[(H, &a)]).await;
            (reply.status == 200).then_some(reply)
        }
    })
    .await;
    assert_eq!(reply.text(), "ok\n");
    assert_eq!(upstream.seen_at("/").len(), 1);
}
