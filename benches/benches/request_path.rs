//! A request through the proxy's real serving path (accept, sniff, HTTP/1.1, the check,
//! the strip, the keep-alive client connection's own upstream connection, as an ALB's
//! connection gets) to an in-process upstream over loopback, against
//! the same request sent to the upstream directly. Everything runs on the bench's thread
//! (a current-thread runtime), so the time per iteration is the CPU time of client, proxy
//! and upstream together, kernel included; the difference to `direct` is the proxy's
//! share. Allocations per request are counted the same way, on each HTTP/1.1 path: the
//! fast path (`h1`, the default) and hyper's (`--h1-fast-path off`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use edgeguard_benches::{Counting, HEADER, accepted_set, allocations};
use edgeguard_proxy::app::Stack;
use edgeguard_proxy::config;
use edgeguard_proxy::gate::ListenerKind;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// Allocations per forwarded request of the proxy's own (through it, less straight to
/// the upstream), measured on this path; more fails the bench. Lower it when a change
/// takes one off. The fast path reuses its connection's buffers: none.
const FAST_VALID_ALLOCATIONS: f64 = 0.0;
/// A rejected request on the fast path: its 403 is written from the same buffers.
const FAST_INVALID_ALLOCATIONS: f64 = 0.0;
/// hyper's path (`--h1-fast-path off`).
const HYPER_VALID_ALLOCATIONS: f64 = 10.0;
/// A rejected request on hyper's path: the 403's own response.
const HYPER_INVALID_ALLOCATIONS: f64 = 2.0;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The upstream: answers every request 200 "ok\n".
async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok\n"))))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// The proxy's enforcing listener, built and served as the binary builds and serves its own
/// (`app::Stack`), with its defaults.
async fn proxy(
    upstream: SocketAddr,
    accepted: edgeguard_proxy::auth::AcceptedSet,
    fast_path: &str,
) -> SocketAddr {
    let upstream = format!("http://{upstream}");
    let config = config::from_args(&[
        "--upstream",
        &upstream,
        // Never read: the bench stores its accepted set itself.
        "--secret-source",
        "env:EDGEGUARD_BENCH_UNUSED",
        "--header",
        HEADER.as_str(),
        "--h1-fast-path",
        fast_path,
    ])
    .unwrap();
    let stack = Stack::new(&config);
    stack.state.accepted.store(Some(Arc::new(accepted)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    stack.serve(ListenerKind::Enforcing, listener, None);
    addr
}

/// A keep-alive client connection.
async fn client(addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// One request as an ALB sends it; returns the status once the body is read.
async fn one(sender: &mut SendRequest<Empty<Bytes>>, value: &str) -> StatusCode {
    sender.ready().await.unwrap();
    let req = Request::get("/orders/42?expand=items")
        .header("host", "api.example.com")
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-forwarded-proto", "https")
        .header(
            "x-amzn-trace-id",
            "Root=1-67891233-abcdef012345678912345678",
        )
        .header("user-agent", "bench/1.0")
        .header(&HEADER, value)
        .body(Empty::new())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status();
    response.into_body().collect().await.unwrap();
    status
}

fn request_path(c: &mut Criterion) {
    let rt: Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (set, values) = accepted_set(2);
    let (hyper_set, _) = accepted_set(2);
    let valid = values[0].clone();
    let (mut direct, mut fast, mut hyper) = rt.block_on(async {
        let up = upstream().await;
        let fast = proxy(up, set, "on").await;
        let hyper = proxy(up, hyper_set, "off").await;
        (client(up).await, client(fast).await, client(hyper).await)
    });
    // (name, which connection, header value, expected status, the proxy's allocation budget)
    let cases: [(&str, Via, &str, StatusCode, f64); 5] = [
        ("direct", Via::Direct, valid.as_str(), StatusCode::OK, 0.0),
        (
            "proxy-valid",
            Via::Fast,
            valid.as_str(),
            StatusCode::OK,
            FAST_VALID_ALLOCATIONS,
        ),
        (
            "proxy-invalid",
            Via::Fast,
            "not-the-value",
            StatusCode::FORBIDDEN,
            FAST_INVALID_ALLOCATIONS,
        ),
        (
            "hyper-valid",
            Via::Hyper,
            valid.as_str(),
            StatusCode::OK,
            HYPER_VALID_ALLOCATIONS,
        ),
        (
            "hyper-invalid",
            Via::Hyper,
            "not-the-value",
            StatusCode::FORBIDDEN,
            HYPER_INVALID_ALLOCATIONS,
        ),
    ];
    let mut direct_allocations = 0.0;
    let mut group = c.benchmark_group("request_path");
    let mut over_budget = Vec::new();
    for (name, via, value, expect, budget) in cases {
        let via_proxy = via != Via::Direct;
        let sender = match via {
            Via::Direct => &mut direct,
            Via::Fast => &mut fast,
            Via::Hyper => &mut hyper,
        };
        // Allocations of 5,000 requests (after a warm-up that fills pools), outside the timing.
        rt.block_on(async {
            for _ in 0..100 {
                assert_eq!(one(sender, value).await, expect);
            }
        });
        let before = allocations();
        rt.block_on(async {
            for _ in 0..5_000 {
                one(sender, value).await;
            }
        });
        let per_request = (allocations() - before) as f64 / 5_000.0;
        if name == "direct" {
            direct_allocations = per_request;
        }
        let own = per_request - direct_allocations;
        println!(
            "request_path/{name}: {per_request:.1} allocations per request ({own:+.1} against direct)"
        );
        // Averages over 5,000 requests: an odd pool reconnect adds well under a tenth.
        if via_proxy && own > budget + 0.1 {
            over_budget.push(format!(
                "{name}: {own:.1} allocations of the proxy's own per request, budget {budget}"
            ));
        }
        group.bench_function(name, |b| b.iter(|| rt.block_on(one(sender, value))));
    }
    group.finish();
    // A regression fails `scripts/bench micro` (never `scripts/test`: a bench, not a test).
    assert!(
        over_budget.is_empty(),
        "the request path allocates more than its budget: {over_budget:?}"
    );
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Direct,
    Fast,
    Hyper,
}

criterion_group!(benches, request_path);
criterion_main!(benches);
