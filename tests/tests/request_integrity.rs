//! What reaches the app, and what the client gets back, on every route (an HTTP/1.1
//! connection's first request through the pool, its later ones over its own app
//! connection, HTTP/2 streams over their connection's set) to an app on TCP and on a Unix
//! socket: raw bytes and hand-built frames in, the app's raw view out (`raw_app`).
//! docs/proxy.md "What the app receives" lists the rules; `well_formed` and `relay`
//! hold them.

use std::collections::HashMap;
use std::time::Duration;

use edgeguard_tests::h2_frames::{self, CANCEL, HEADERS, NO_ERROR, PROTOCOL_ERROR, RST_STREAM};
use edgeguard_tests::proxy::{Builder, Proxy};
use edgeguard_tests::raw_app::{Answer, RawApp};
use edgeguard_tests::routes::{H1, H1_ROUTES, H1Route};
use edgeguard_tests::secret_like;
use tempfile::TempDir;

/// The app and the proxy in front of it.
struct Stage {
    app: RawApp,
    proxy: Proxy,
    secret: String,
    name: &'static str,
    _dir: TempDir,
}

/// The same stage twice: the app on loopback TCP, and on a Unix socket.
async fn stages(script: &[(&str, &[u8], bool)]) -> Vec<Stage> {
    stages_with(script, &[]).await
}

/// As [`stages`], with more flags for the proxy.
async fn stages_with(script: &[(&str, &[u8], bool)], args: &[(&str, &str)]) -> Vec<Stage> {
    let script: HashMap<String, Answer> = script
        .iter()
        .map(|(path, bytes, close)| {
            (
                path.to_string(),
                Answer {
                    bytes: bytes.to_vec(),
                    close: *close,
                },
            )
        })
        .collect();
    let mut out = Vec::new();
    for unix in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let app = if unix {
            RawApp::start_unix(&dir.path().join("app.sock"), script.clone()).await
        } else {
            RawApp::start(script.clone()).await
        };
        let secret = secret_like('s');
        let file = dir.path().join("origin-verify");
        std::fs::write(&file, format!("{secret}\n")).unwrap();
        let mut builder = Builder::new(&format!("file:{}", file.display()))
            .arg("--upstream", &app.url)
            .internal();
        for (flag, value) in args {
            builder = builder.arg(flag, value);
        }
        let proxy = builder.spawn().await;
        proxy.wait_ready().await;
        out.push(Stage {
            app,
            proxy,
            secret,
            name: if unix { "unix" } else { "tcp" },
            _dir: dir,
        });
    }
    out
}

/// The fields of an HTTP/2 request for `app.example.com` carrying the secret.
fn h2_request<'a>(method: &'a str, path: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        (":method", method),
        (":scheme", "http"),
        (":path", path),
        (":authority", "app.example.com"),
        ("x-origin-verify", secret),
    ]
}

impl Stage {
    /// An HTTP/1.1 request head with the secret, the given start line and fields.
    fn head(&self, start: &str, fields: &[&str]) -> Vec<u8> {
        let mut r = format!("{start}\r\nx-origin-verify: {}\r\n", self.secret);
        for f in fields {
            r.push_str(f);
            r.push_str("\r\n");
        }
        r.push_str("\r\n");
        r.into_bytes()
    }

    /// How many requests the app has received.
    fn count(&self) -> usize {
        self.app.arrived().len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_the_app_gets_exactly_one_host_which_is_the_requests_authority() {
    for s in stages(&[]).await {
        for route in H1_ROUTES {
            let at = format!("{} {route:?}", s.name);
            let addr = s.proxy.enforcing();

            // The client's one Host, as it is.
            let mut c = H1::open(addr, route, &s.secret).await;
            let a = c
                .exchange(
                    &s.head("GET /one HTTP/1.1", &["Host: app.example.com:8443"]),
                    "GET",
                )
                .await;
            assert_eq!(a.status, 200, "{at}");
            assert_eq!(
                s.app.wait_for("/one").await.hosts,
                ["app.example.com:8443"],
                "{at}"
            );

            // Absolute form: the target's authority, whatever Host says (RFC 9112 §3.2.2).
            let mut c = H1::open(addr, route, &s.secret).await;
            let a = c
                .exchange(
                    &s.head(
                        "GET http://api.example.com:8080/abs?q=1 HTTP/1.1",
                        &["Host: other.example"],
                    ),
                    "GET",
                )
                .await;
            assert_eq!(a.status, 200, "{at}");
            let got = s.app.wait_for("/abs").await;
            assert_eq!(
                (got.hosts, got.target),
                (
                    vec!["api.example.com:8080".to_owned()],
                    "/abs?q=1".to_owned()
                ),
                "{at}"
            );

            // `Connection` naming Host (or the length) removes neither.
            let mut c = H1::open(addr, route, &s.secret).await;
            let mut req = s.head(
                "POST /named HTTP/1.1",
                &[
                    "Host: app.example.com",
                    "Connection: host, content-length, x-hop",
                    "X-Hop: 1",
                    "Content-Length: 5",
                ],
            );
            req.extend_from_slice(b"hello");
            let a = c.exchange(&req, "POST").await;
            assert_eq!(a.status, 200, "{at}");
            let got = s.app.wait_for("/named").await;
            assert_eq!(got.hosts, ["app.example.com"], "{at}");
            assert_eq!(
                (got.body.as_slice(), got.complete),
                (&b"hello"[..], true),
                "{at}"
            );
            assert_eq!(
                got.fields_named("x-hop"),
                0,
                "{at}: a named field still goes"
            );

            // HTTP/1.0 without Host: the app's own authority, once.
            let mut c = H1::open(addr, route, &s.secret).await;
            let a = c
                .exchange(
                    &s.head("GET /old HTTP/1.0", &["Connection: keep-alive"]),
                    "GET",
                )
                .await;
            assert_eq!(a.status, 200, "{at}");
            let hosts = s.app.wait_for("/old").await.hosts;
            assert_eq!(hosts.len(), 1, "{at}: {hosts:?}");

            // Refused, never forwarded (RFC 9112 §3.2, §3.2.4, §6.1; RFC 9110 §4.2.4).
            let refused: [(&str, &[&str], u16); 9] = [
                ("GET /x HTTP/1.1", &[], 400),
                (
                    "GET /x HTTP/1.1",
                    &["Host: a.example", "Host: a.example"],
                    400,
                ),
                ("GET /x HTTP/1.1", &["Host: a.example, b.example"], 400),
                ("GET /x HTTP/1.1", &["Host: user@a.example"], 400),
                ("GET /x HTTP/1.1", &["Host: a.example:80:80"], 400),
                (
                    "GET http://user:pw@a.example/x HTTP/1.1",
                    &["Host: a.example"],
                    400,
                ),
                ("GET * HTTP/1.1", &["Host: a.example"], 400),
                (
                    "POST /x HTTP/1.1",
                    &["Host: a.example", "Transfer-Encoding: gzip, chunked"],
                    501,
                ),
                (
                    "CONNECT a.example:443 HTTP/1.1",
                    &["Host: a.example:443"],
                    405,
                ),
            ];
            for (start, fields, status) in refused {
                let mut c = H1::open(addr, route, &s.secret).await;
                let before = s.count();
                let a = c.exchange(&s.head(start, fields), "GET").await;
                assert_eq!(a.status, status, "{at}: {start} {fields:?}: {a:?}");
                assert_eq!(
                    a.field("connection").as_deref(),
                    Some("close"),
                    "{at}: {start}"
                );
                if status == 405 {
                    let allow = a.field("allow").unwrap_or_default();
                    assert!(
                        allow.contains("GET") && !allow.contains("CONNECT"),
                        "{allow}"
                    );
                }
                assert_eq!(
                    s.count(),
                    before,
                    "{at}: {start} {fields:?} reached the app"
                );
            }
        }
        // The internal listener holds to the same rules (no header needed there).
        let mut c = H1::open(s.proxy.internal(), H1Route::Pool, &s.secret).await;
        let a = c
            .exchange(
                b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
                "GET",
            )
            .await;
        assert_eq!(a.status, 405);
        let mut c = H1::open(s.proxy.internal(), H1Route::Pool, &s.secret).await;
        let a = c
            .exchange(b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GET")
            .await;
        assert_eq!(a.status, 400);
        let m = s.proxy.metrics().await;
        assert!(
            m.contains("edgeguard_requests_total{listener=\"internal\",outcome=\"malformed\"} 2"),
            "{m}"
        );
        assert!(
            m.contains("edgeguard_requests_total{listener=\"enforcing\",outcome=\"malformed\"} 18"),
            "{m}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_the_host_is_the_authority_and_malformed_requests_are_reset() {
    for s in stages(&[]).await {
        let at = s.name;
        let c = h2_frames::Conn::connect(s.proxy.enforcing()).await;
        let secret = s.secret.as_str();
        let base =
            |path: &'static str| vec![(":method", "GET"), (":scheme", "http"), (":path", path)];

        // `:authority` wins over any `host` field (RFC 9113 §8.3.1).
        let mut f = base("/authority");
        f.extend([
            (":authority", "api.example.com"),
            ("host", "other.example"),
            ("x-origin-verify", secret),
        ]);
        c.headers(1, &f, true);
        assert_eq!(c.answer(1).await.kind, HEADERS, "{at}");
        assert_eq!(
            s.app.wait_for("/authority").await.hosts,
            ["api.example.com"],
            "{at}"
        );

        // Without `:authority`, the one `host` field.
        let mut f = base("/host-only");
        f.extend([("host", "app.example.com"), ("x-origin-verify", secret)]);
        c.headers(3, &f, true);
        assert_eq!(c.answer(3).await.kind, HEADERS, "{at}");
        assert_eq!(
            s.app.wait_for("/host-only").await.hosts,
            ["app.example.com"],
            "{at}"
        );

        // Malformed: the stream is reset with PROTOCOL_ERROR and nothing reaches the app
        // (h2 resets some itself, before the proxy's own rules see them).
        let v = ("x-origin-verify", secret);
        let malformed: Vec<(&str, Vec<(&str, &str)>)> = vec![
            (
                "no :path",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":authority", "a.example"),
                    v,
                ],
            ),
            (
                "no :path, a host field",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    ("host", "a.example"),
                    v,
                ],
            ),
            (
                "a :path not starting with /",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "x"),
                    (":authority", "a.example"),
                    v,
                ],
            ),
            (
                "* for GET",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "*"),
                    (":authority", "a.example"),
                    v,
                ],
            ),
            (
                "no authority at all",
                vec![(":method", "GET"), (":scheme", "http"), (":path", "/x"), v],
            ),
            (
                "userinfo",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/x"),
                    (":authority", "user@a.example"),
                    v,
                ],
            ),
            (
                "two host fields",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/x"),
                    ("host", "a"),
                    ("host", "b"),
                    v,
                ],
            ),
            (
                "content-length twice",
                vec![
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":path", "/x"),
                    (":authority", "a.example"),
                    ("content-length", "0"),
                    ("content-length", "0"),
                    v,
                ],
            ),
            (
                "no :method (h2's own rule)",
                vec![
                    (":scheme", "http"),
                    (":path", "/x"),
                    (":authority", "a.example"),
                    v,
                ],
            ),
            (
                "a connection-specific field (h2's own rule)",
                vec![
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":path", "/x"),
                    (":authority", "a.example"),
                    ("connection", "close"),
                    v,
                ],
            ),
        ];
        let before = s.count();
        let mut stream = 5;
        for (what, fields) in &malformed {
            c.headers(stream, fields, true);
            let answer = c.answer(stream).await;
            assert_eq!(
                (answer.kind, answer.code()),
                (RST_STREAM, Some(PROTOCOL_ERROR)),
                "{at}: {what}"
            );
            stream += 2;
        }
        assert_eq!(
            s.count(),
            before,
            "{at}: a malformed request reached the app"
        );

        // CONNECT is well formed on HTTP/2, and answered 405 like anywhere else.
        c.headers(
            stream,
            &[(":method", "CONNECT"), (":authority", "a.example:443"), v],
            false,
        );
        let answer = c.answer(stream).await;
        assert_eq!(answer.kind, HEADERS, "{at}: CONNECT is answered, not reset");
        assert_eq!(s.count(), before, "{at}: CONNECT reached the app");
        let counted = s
            .proxy
            .metric("edgeguard_requests_total{listener=\"enforcing\",outcome=\"malformed\"}")
            .await;
        // Those h2 lets through are the proxy's to count, CONNECT with them.
        assert!(
            counted > (malformed.len() / 2) as f64,
            "{at}: {counted} counted malformed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_the_client_abandoned_never_reaches_the_app_complete() {
    for s in stages(&[]).await {
        let at = s.name;
        // HTTP/2: a reset before END_STREAM, whatever its code, with or without a
        // declared length (whose last byte has even arrived).
        let c = h2_frames::Conn::connect(s.proxy.enforcing()).await;
        let cases: [(&str, Option<&str>, &[u8], u32); 4] = [
            ("/h2-no-length-no-error", None, b"abc", NO_ERROR),
            ("/h2-no-length-cancel", None, b"abc", CANCEL),
            ("/h2-length-all-sent", Some("6"), b"abcdef", NO_ERROR),
            ("/h2-length-half-sent", Some("6"), b"abc", NO_ERROR),
        ];
        let mut stream = 1;
        for (path, length, sent, code) in cases {
            let mut f = h2_request("POST", path, &s.secret);
            if let Some(length) = length {
                f.push(("content-length", length));
            }
            c.headers(stream, &f, false);
            c.data(stream, sent, false);
            s.app.wait_for_head(path).await;
            c.reset(stream, code);
            let got = s.app.wait_for(path).await;
            assert!(
                !got.complete,
                "{at} {path}: the app got a complete request: {got:?}"
            );
            stream += 2;
        }
        // The same connection still serves a whole request, body and all.
        let mut f = h2_request("POST", "/h2-whole", &s.secret);
        f.push(("content-length", "6"));
        c.headers(stream, &f, false);
        c.data(stream, b"abc", false);
        c.data(stream, b"def", true);
        assert_eq!(c.answer(stream).await.kind, HEADERS);
        let got = s.app.wait_for("/h2-whole").await;
        assert_eq!(
            (got.body.as_slice(), got.complete),
            (&b"abcdef"[..], true),
            "{at}"
        );

        // HTTP/1.1: the client closes mid-body, by length or chunked.
        for route in H1_ROUTES {
            for (framing, partial) in [
                ("Content-Length: 10", &b"hello"[..]),
                ("Transfer-Encoding: chunked", &b"5\r\nhello\r\n"[..]),
            ] {
                let path = format!("/h1-{route:?}-{}", framing.len());
                let mut c = H1::open(s.proxy.enforcing(), route, &s.secret).await;
                let mut req = s.head(
                    &format!("POST {path} HTTP/1.1"),
                    &["Host: app.example.com", framing],
                );
                req.extend_from_slice(partial);
                c.send(&req).await;
                s.app.wait_for_head(&path).await;
                c.close().await;
                let got = s.app.wait_for(&path).await;
                assert!(
                    !got.complete,
                    "{at} {route:?} {framing}: the app got a complete request: {got:?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_reaches_the_app_with_its_framing_whatever_the_method() {
    for s in stages(&[]).await {
        for route in H1_ROUTES {
            let at = format!("{} {route:?}", s.name);
            for method in ["GET", "HEAD", "DELETE", "OPTIONS"] {
                // Whole: the app gets the body, chunked.
                let path = format!("/{method}-{route:?}-whole");
                let mut c = H1::open(s.proxy.enforcing(), route, &s.secret).await;
                let mut req = s.head(
                    &format!("{method} {path} HTTP/1.1"),
                    &["Host: app.example.com", "Transfer-Encoding: chunked"],
                );
                req.extend_from_slice(b"5\r\nhello\r\n0\r\n\r\n");
                let a = c.exchange(&req, method).await;
                assert_eq!(a.status, 200, "{at} {method}");
                let got = s.app.wait_for(&path).await;
                assert_eq!(
                    (got.body.as_slice(), got.complete),
                    (&b"hello"[..], true),
                    "{at} {method}: {got:?}"
                );
                // Abandoned: the client closes before the last chunk.
                let path = format!("/{method}-{route:?}-cut");
                let mut c = H1::open(s.proxy.enforcing(), route, &s.secret).await;
                let mut req = s.head(
                    &format!("{method} {path} HTTP/1.1"),
                    &["Host: app.example.com", "Transfer-Encoding: chunked"],
                );
                req.extend_from_slice(b"5\r\nhello\r\n");
                c.send(&req).await;
                s.app.wait_for_head(&path).await;
                c.close().await;
                let got = s.app.wait_for(&path).await;
                assert!(
                    !got.complete,
                    "{at} {method}: the app got a complete request: {got:?}"
                );
            }
        }
        // HTTP/2: DATA on a GET without `content-length`.
        let c = h2_frames::Conn::connect(s.proxy.enforcing()).await;
        let f = h2_request("GET", "/h2-get-body", &s.secret);
        c.headers(1, &f, false);
        c.data(1, b"hello", true);
        assert_eq!(c.answer(1).await.kind, HEADERS, "{}", s.name);
        let got = s.app.wait_for("/h2-get-body").await;
        assert_eq!(
            (got.body.as_slice(), got.complete),
            (&b"hello"[..], true),
            "{}: {got:?}",
            s.name
        );
    }
}

/// Scripted answers of the app that cannot be relayed as they are.
const AMBIGUOUS: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
const CODED: &[u8] =
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
const SWITCHING: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n";
const TWO_LENGTHS: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabc";
const NO_CONTENT_WITH_LENGTH: &[u8] = b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
const CHUNKED: &[u8] =
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_unambiguous_answers_of_the_app_reach_the_client() {
    let script: &[(&str, &[u8], bool)] = &[
        ("/ambiguous", AMBIGUOUS, true),
        ("/coded", CODED, true),
        ("/switching", SWITCHING, true),
        ("/two-lengths", TWO_LENGTHS, true),
        ("/no-content", NO_CONTENT_WITH_LENGTH, false),
        ("/chunked", CHUNKED, false),
    ];
    for s in stages(script).await {
        for route in H1_ROUTES {
            let at = format!("{} {route:?}", s.name);
            for path in ["/ambiguous", "/coded", "/switching", "/two-lengths"] {
                let mut c = H1::open(s.proxy.enforcing(), route, &s.secret).await;
                let a = c
                    .exchange(
                        &s.head(&format!("GET {path} HTTP/1.1"), &["Host: app.example.com"]),
                        "GET",
                    )
                    .await;
                assert_eq!(a.status, 502, "{at} {path}: {a:?}");
                assert!(a.well_framed, "{at} {path}");
            }
            let mut c = H1::open(s.proxy.enforcing(), route, &s.secret).await;
            let a = c
                .exchange(
                    &s.head("GET /no-content HTTP/1.1", &["Host: app.example.com"]),
                    "GET",
                )
                .await;
            assert_eq!((a.status, a.field("content-length")), (204, None), "{at}");
            // The connection goes on, well framed: a chunked answer relays whole.
            let a = c
                .exchange(
                    &s.head("GET /chunked HTTP/1.1", &["Host: app.example.com"]),
                    "GET",
                )
                .await;
            assert_eq!(
                (a.status, a.body.as_slice(), a.well_framed),
                (200, &b"abcde"[..], true),
                "{at}"
            );
        }

        // HTTP/2 (hyper's client, which refuses any response that is not well formed).
        let io = tokio::net::TcpStream::connect(s.proxy.enforcing())
            .await
            .unwrap();
        let v = vec![("x-origin-verify", s.secret.as_str())];
        let paths = [
            "/ambiguous",
            "/coded",
            "/switching",
            "/two-lengths",
            "/no-content",
            "/chunked",
        ];
        let requests: Vec<_> = paths.iter().map(|p| (*p, v.clone())).collect();
        let statuses = tokio::time::timeout(
            Duration::from_secs(20),
            edgeguard_tests::tls::h2_gets(io, &requests),
        )
        .await
        .expect("answers within 20 s")
        .expect("well-formed HTTP/2 answers");
        assert_eq!(statuses, [502, 502, 502, 502, 204, 200], "{}", s.name);
        let m = s.proxy.metrics().await;
        assert!(
            m.contains("edgeguard_upstream_errors_total{kind=\"malformed_response\"} 9"),
            "{m}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_mode_lets_no_copy_of_the_header_reach_the_app_on_any_route() {
    // Report mode forwards what fails the check: every attempt to slip a header field
    // past it (any case, repeated, joined, empty) must still leave the app without one.
    for s in stages_with(&[], &[("--mode", "report")]).await {
        let at = s.name;
        let wrong = "wrong-value-0123456789";
        let attempts = [
            ("missing", String::new()),
            ("wrong", format!("x-origin-verify: {wrong}\r\n")),
            (
                "any case, twice",
                format!(
                    "X-ORIGIN-VERIFY: {wrong}\r\nx-Origin-Verify: {}\r\n",
                    s.secret
                ),
            ),
            (
                "joined",
                format!("x-origin-verify: {wrong}, {}\r\n", s.secret),
            ),
            ("empty", "x-origin-verify:\r\n".to_owned()),
        ];
        for route in H1_ROUTES {
            for (i, (what, fields)) in attempts.iter().enumerate() {
                let mut c = H1::open(s.proxy.enforcing(), route, &s.secret).await;
                let path = format!("/report/{route:?}/{i}");
                let request =
                    format!("GET {path} HTTP/1.1\r\nHost: app.example.com\r\n{fields}\r\n");
                let answer = c.exchange(request.as_bytes(), "GET").await;
                assert_eq!(answer.status, 200, "{at} {route:?} {what}: forwarded");
                let arrived = s.app.wait_for(&path).await;
                assert_eq!(
                    arrived.fields_named("x-origin-verify"),
                    0,
                    "{at} {route:?} {what}: {}",
                    arrived.head
                );
                c.close().await;
            }
        }
        // HTTP/2: a stream without the field, and one with two copies.
        let c = h2_frames::Conn::connect(s.proxy.enforcing()).await;
        let secret = s.secret.as_str();
        for (stream, extra) in [
            (1, vec![]),
            (
                3,
                vec![("x-origin-verify", wrong), ("x-origin-verify", secret)],
            ),
        ] {
            let path = format!("/report/h2/{stream}");
            let mut fields = vec![
                (":method", "GET"),
                (":scheme", "http"),
                (":path", path.as_str()),
                (":authority", "app.example.com"),
            ];
            fields.extend(extra);
            c.headers(stream, &fields, true);
            assert_eq!(c.answer(stream).await.kind, HEADERS, "{at} h2 {stream}");
            let arrived = s.app.wait_for(&path).await;
            assert_eq!(
                arrived.fields_named("x-origin-verify"),
                0,
                "{at} h2 {stream}"
            );
        }
        let reported = s
            .proxy
            .metric("edgeguard_requests_total{listener=\"enforcing\",outcome=\"reported\"}")
            .await;
        let expected = H1_ROUTES.len() * attempts.len() + 2;
        assert_eq!(reported, expected as f64, "{at}");
    }
}
