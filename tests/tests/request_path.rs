//! The enforcing request path, end to end: real proxy binary, real upstream, loopback.

use edgeguard_tests::client::{self, raw, request};
use edgeguard_tests::fixture::Fixture;
use edgeguard_tests::proxy::Builder;

const H: &str = "x-origin-verify";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepts_each_value_strips_it_and_keeps_the_forwarded_fields() {
    let f = Fixture::start(|b| b).await;
    let addr = f.proxy.enforcing();
    for (path, name, value) in [("/one", H, &f.a), ("/two", "X-Origin-Verify", &f.b)] {
        let reply = client::get(
            addr,
            path,
            &[
                (name, value.as_str()),
                ("X-Forwarded-For", "203.0.113.7"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Port", "443"),
                ("Keep-Alive", "timeout=5"),
                ("Proxy-Connection", "keep-alive"),
            ],
        )
        .await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert_eq!(reply.text(), "ok\n");
        let seen = f.upstream.seen_at(path);
        assert_eq!(seen.len(), 1);
        let h = &seen[0].headers;
        assert!(h.get(H).is_none(), "the app must never see the secret");
        assert_eq!(h["x-forwarded-for"], "203.0.113.7");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-port"], "443");
        assert_eq!(h["host"], "app.example.com");
        assert!(h.get("keep-alive").is_none() && h.get("proxy-connection").is_none());
    }
    let m = f.proxy.metrics().await;
    assert!(
        m.contains("edgeguard_accepted_matches_total{accepted=\"line2\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("edgeguard_accepted_matches_total{accepted=\"line4\"} 1"),
        "{m}"
    );
    assert!(m.contains("edgeguard_requests_total{listener=\"enforcing\",outcome=\"accepted\"} 2"));
    assert!(!m.contains(&f.a) && !m.contains(&f.b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_every_bad_header_and_never_forwards_it() {
    let f = Fixture::start(|b| b).await;
    let (a, b) = (f.a.as_str(), f.b.as_str());
    let prefix = &a[..a.len() - 1];
    let extended = format!("{a}0");
    let joined = format!("junk, {a}");
    let joined_valid = format!("{a}, {b}");
    let upper = a.to_uppercase();
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("missing", vec![]),
        ("empty", vec![(H, "")]),
        ("wrong", vec![(H, "not-the-secret")]),
        ("prefix", vec![(H, prefix)]),
        ("extension", vec![(H, &extended)]),
        ("comma-joined", vec![(H, &joined)]),
        ("two values joined", vec![(H, &joined_valid)]),
        ("value case", vec![(H, &upper)]),
        ("tab inside", vec![(H, "abc\tdef")]),
        ("two fields both valid", vec![(H, a), (H, a)]),
        ("two fields valid and wrong", vec![(H, "wrong"), (H, a)]),
        ("other name", vec![("x-origin-verify2", a)]),
    ];
    for (what, fields) in &cases {
        let reply = client::get(f.proxy.enforcing(), "/bad", fields).await;
        assert_eq!(reply.status, 403, "{what}");
        assert_eq!(reply.text(), "forbidden\n", "{what}");
    }
    // Bytes that are not UTF-8, and control bytes: hyper's parser answers 400 to a
    // field value with control bytes before the check runs; either way, not forwarded.
    let mut non_utf8 = b"GET /bad HTTP/1.1\r\nHost: x\r\nx-origin-verify: ".to_vec();
    non_utf8.extend_from_slice(b"\xff\xfe");
    non_utf8.extend_from_slice(a.as_bytes());
    non_utf8.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    assert_eq!(raw(f.proxy.enforcing(), &non_utf8).await.status, 403);
    let control = format!(
        "GET /bad HTTP/1.1\r\nHost: x\r\nx-origin-verify: {a}\x01\r\nConnection: close\r\n\r\n"
    );
    let status = raw(f.proxy.enforcing(), control.as_bytes()).await.status;
    assert!(status == 400 || status == 403, "control bytes: {status}");

    assert!(
        f.upstream.seen_at("/bad").is_empty(),
        "a rejected request reached the app"
    );
    let rejected = f
        .proxy
        .metric("edgeguard_requests_total{listener=\"enforcing\",outcome=\"rejected\"}")
        .await;
    assert_eq!(
        rejected as usize,
        cases.len() + 1 + usize::from(status == 403)
    );
    assert_eq!(
        f.proxy
            .metric("edgeguard_rejections_total{reason=\"duplicate\"}")
            .await,
        2.0
    );
    assert_eq!(
        f.proxy
            .metric("edgeguard_rejections_total{reason=\"missing\"}")
            .await,
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_exact_health_path_bypasses_the_check() {
    let f = Fixture::start(|b| {
        b.arg("--health-path", "/healthz")
            .arg("--health-path", "/ping")
    })
    .await;
    let addr = f.proxy.enforcing();
    for path in ["/healthz", "/healthz?from=alb", "/ping"] {
        assert_eq!(client::get(addr, path, &[]).await.status, 200, "{path}");
    }
    for path in [
        "/healthz/",
        "//healthz",
        "/%68ealthz",
        "/healthz/../x",
        "/HEALTHZ",
        "/healthzx",
        "/x/healthz",
        "/healthz;x",
    ] {
        assert_eq!(client::get(addr, path, &[]).await.status, 403, "{path}");
    }
    // A health request that carries the header still has it stripped.
    assert_eq!(
        client::get(addr, "/healthz", &[(H, &f.a)]).await.status,
        200
    );
    assert!(
        f.upstream
            .seen_at("/healthz")
            .iter()
            .all(|s| s.headers.get(H).is_none())
    );
    let bypass = f
        .proxy
        .metric("edgeguard_requests_total{listener=\"enforcing\",outcome=\"bypass\"}")
        .await;
    assert_eq!(bypass, 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_internal_listener_needs_no_header_and_still_strips_it() {
    let f = Fixture::start(|b| b).await;
    let addr = f.proxy.internal();
    assert_eq!(client::get(addr, "/internal", &[]).await.status, 200);
    assert_eq!(
        client::get(addr, "/internal", &[(H, "anything")])
            .await
            .status,
        200
    );
    let seen = f.upstream.seen_at("/internal");
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.headers.get(H).is_none()));
    let m = f.proxy.metrics().await;
    assert!(
        m.contains("edgeguard_requests_total{listener=\"internal\",outcome=\"bypass\"} 2"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_502_and_a_slow_one_504() {
    // A port that was just free: nothing listens there.
    let closed = edgeguard_tests::closed_port();
    let f = Fixture::start(|b| {
        b.arg("--upstream", &format!("http://{closed}"))
            .arg("--upstream-connect-timeout", "500ms")
    })
    .await;
    let reply = client::get(f.proxy.enforcing(), "/x", &[(H, &f.a)]).await;
    assert_eq!(reply.status, 502);
    assert_eq!(
        f.proxy
            .metric("edgeguard_upstream_errors_total{kind=\"connect\"}")
            .await,
        1.0
    );

    let slow = Fixture::start(|b| b.arg("--upstream-timeout", "300ms")).await;
    let reply = client::get(slow.proxy.enforcing(), "/slow?ms=5000", &[(H, &slow.a)]).await;
    assert_eq!(reply.status, 504);
    assert_eq!(
        slow.proxy
            .metric("edgeguard_upstream_errors_total{kind=\"timeout\"}")
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_streams_through_with_flat_memory() {
    const SIZE: u64 = 100 * 1024 * 1024;
    let f = Fixture::start(|b| b).await;
    let upload = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(f.proxy.enforcing())
            .await
            .unwrap();
        let head = format!(
            "POST /upload HTTP/1.1\r\nHost: x\r\n{H}: {}\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n",
            f.a
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b'u'; 256 * 1024];
        for _ in 0..SIZE / chunk.len() as u64 {
            stream.write_all(&chunk).await.unwrap();
        }
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(120), upload)
        .await
        .expect("upload within 120s");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with(&SIZE.to_string()),
        "upstream got every byte: {answer}"
    );

    let download = client::get(
        f.proxy.enforcing(),
        &format!("/download?bytes={SIZE}"),
        &[(H, &f.a)],
    )
    .await;
    assert_eq!(download.status, 200);
    assert!(
        download.body.len() as u64 >= SIZE,
        "streamed download complete"
    );

    let status = std::fs::read_to_string(format!("/proc/{}/status", f.proxy.pid())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    // 100 MB went each way; the proxy's peak resident memory stays a small fraction.
    assert!(
        peak_kb < 64 * 1024,
        "peak RSS {peak_kb} kB: bodies are being buffered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_requests_are_counted_even_with_no_upstream() {
    // The proxy answers 403 itself: the upstream is not even running.
    let closed = edgeguard_tests::closed_port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s");
    std::fs::write(&file, "only-value-123456789\n").unwrap();
    let proxy = Builder::new(&format!("file:{}", file.display()))
        .arg("--upstream", &format!("http://{closed}"))
        .spawn()
        .await;
    proxy.wait_ready().await;
    let reply = raw(proxy.enforcing(), &request("GET", "/", &[])).await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        proxy
            .metric("edgeguard_upstream_errors_total{kind=\"connect\"}")
            .await,
        0.0
    );
}

/// The edge headers (`X-Amz-Cf-Id`, `Via … (CloudFront)`, `x-amzn-apigateway-api-id`) only
/// label accepted requests: forged on a request without an accepted value, they change
/// nothing (403, never forwarded, nothing counted as accepted); on an accepted one they pick
/// the `edge` label and are forwarded like any other field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_edge_headers_only_label_accepted_requests() {
    let f = Fixture::start(|b| b).await;
    let addr = f.proxy.enforcing();
    let forged = |value: &str| {
        format!(
            "GET /edge HTTP/1.1\r\nHost: app.example.com\r\nX-Amz-Cf-Id: forged==\r\n\
             Via: 1.1 evil.example (CloudFront)\r\nx-amzn-apigateway-api-id: abc\r\n\
             {H}: {value}\r\nConnection: close\r\n\r\n"
        )
    };
    for bad in ["not-the-secret", ""] {
        let reply = raw(addr, forged(bad).as_bytes()).await;
        assert_eq!(reply.status, 403, "{bad:?}: {}", reply.head);
    }
    assert!(
        f.upstream.seen_at("/edge").is_empty(),
        "a rejected request reached the app"
    );
    let m = f.proxy.metrics().await;
    assert!(!m.contains("edge=\"apigateway\"} 1"), "{m}");

    let reply = raw(addr, forged(&f.a).as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.head);
    let seen = f.upstream.seen_at("/edge");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["x-amz-cf-id"], "forged==");
    assert!(seen[0].headers.get(H).is_none());
    // Both doors' clues: the strongest (API Gateway's id, as an edge-optimized API
    // sends through CloudFront) names it.
    let m = f.proxy.metrics().await;
    assert!(
        m.lines().any(
            |l| l.starts_with("edgeguard_accepted_requests_total{version_id=\"file\"")
                && l.ends_with("edge=\"apigateway\"} 1")
        ),
        "{m}"
    );
}

/// Connection-level fields go both ways (RFC 9110 §7.6.1), whatever their spelling: the
/// fixed list, `Trailer` from requests, and whatever a `Connection` value names, in any of
/// its values; `Connection: keep-alive` alone names nothing. End-to-end fields stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_level_fields_are_removed_both_ways_and_end_to_end_ones_kept() {
    let f = Fixture::start(|b| b).await;
    let bytes = format!(
        "GET /hop HTTP/1.1\r\nHost: app.example.com\r\n{H}: {}\r\n\
         Connection: keep-alive\r\nconnection: X-Hop-Secret , x-hop-other\r\n\
         X-Hop-Secret: s\r\nx-hop-other: o\r\nTE: trailers\r\nTrailer: x-note\r\n\
         Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nx-end: e\r\n\r\n",
        f.a
    );
    let reply = client::raw_one(f.proxy.enforcing(), bytes.as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.head);
    assert_eq!(reply.text(), "hop\n");
    for gone in ["x-app-hop", "keep-alive", "connection"] {
        assert_eq!(
            reply.header(gone),
            None,
            "{gone} reached the client: {}",
            reply.head
        );
    }
    assert_eq!(reply.header("x-app-end").as_deref(), Some("1"));
    let seen = f.upstream.seen_at("/hop");
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    for gone in [
        H,
        "x-hop-secret",
        "x-hop-other",
        "te",
        "trailer",
        "keep-alive",
        "proxy-connection",
    ] {
        assert!(h.get(gone).is_none(), "{gone} reached the app: {h:?}");
    }
    assert_eq!(h["x-end"], "e");
}
