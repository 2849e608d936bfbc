//! HTTPS from the ALB (with certificate reload), HTTP/2 over TLS and h2c, and upgrades.

use std::time::{Duration, Instant};

use edgeguard_tests::fixture::Fixture;
use edgeguard_tests::poll;
use edgeguard_tests::tls::{self, CertPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const H: &str = "x-origin-verify";

fn write_pair(dir: &std::path::Path, pair: &CertPair) -> (String, String) {
    // Write both, then rename both: a reload may still see one new and one old file,
    // which the proxy must refuse (key mismatch) and retry.
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(dir.join("cert.tmp"), &pair.cert_pem).unwrap();
    std::fs::write(dir.join("key.tmp"), &pair.key_pem).unwrap();
    std::fs::rename(dir.join("cert.tmp"), &cert).unwrap();
    std::fs::rename(dir.join("key.tmp"), &key).unwrap();
    (cert.display().to_string(), key.display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_enforces_like_plain_and_a_new_certificate_is_served_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = tls::generate();
    let (cert, key) = write_pair(dir.path(), &first);
    let f = Fixture::start(|b| {
        b.arg("--tls-cert", &cert)
            .arg("--tls-key", &key)
            .arg("--refresh-interval", "200ms")
    })
    .await;
    let addr = f.proxy.enforcing();
    let trust_first = tls::client_config(Some(&first.der), &[b"http/1.1"]);
    for (fields, want) in [
        (vec![(H, f.a.as_str())], 200),
        (vec![], 403),
        (vec![(H, "wrong")], 403),
    ] {
        let stream = tls::connect(addr, trust_first.clone()).await.unwrap();
        assert_eq!(tls::h1_get(stream, "/tls", &fields).await.unwrap(), want);
    }
    assert_eq!(f.upstream.seen_at("/tls").len(), 1);
    // TLS 1.2 is offered too.
    let stream = tls::connect(addr, tls::client_config_tls12(&first.der))
        .await
        .unwrap();
    assert_eq!(tls::h1_get(stream, "/", &[(H, &f.a)]).await.unwrap(), 200);

    // A connection opened before the swap keeps working.
    let before = tls::connect(addr, trust_first.clone()).await.unwrap();

    // Swap the files: new connections get the new certificate, no restart.
    let second = tls::generate();
    write_pair(dir.path(), &second);
    let any = tls::client_config(None, &[b"http/1.1"]);
    poll(
        Duration::from_secs(15),
        "the new certificate to be served",
        || {
            let any = any.clone();
            let want = second.der.clone();
            async move {
                let stream = tls::connect(addr, any).await.ok()?;
                (tls::peer_certificate(&stream) == want).then_some(())
            }
        },
    )
    .await;
    let stream = tls::connect(addr, tls::client_config(Some(&second.der), &[]))
        .await
        .unwrap();
    assert_eq!(tls::h1_get(stream, "/", &[(H, &f.a)]).await.unwrap(), 200);
    assert_eq!(tls::h1_get(before, "/", &[(H, &f.a)]).await.unwrap(), 200);

    // An invalid pair on disk keeps the certificate in force.
    std::fs::write(dir.path().join("key.pem"), tls::generate().key_pem).unwrap();
    poll(
        Duration::from_secs(15),
        "the bad pair to be refused",
        || async {
            (f.proxy
                .metric("edgeguard_tls_reload_total{result=\"error\"}")
                .await
                >= 1.0)
                .then_some(())
        },
    )
    .await;
    let stream = tls::connect(addr, tls::client_config(Some(&second.der), &[]))
        .await
        .unwrap();
    assert_eq!(tls::h1_get(stream, "/", &[(H, &f.a)]).await.unwrap(), 200);
    assert!(f.proxy.output().contains("TLS certificate reload failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_tls_and_h2c_follow_the_same_rules() {
    let f = Fixture::start(|b| b.env("EDGEGUARD_TLS_SELF_SIGNED", "true")).await;
    let requests = vec![
        ("/h2", vec![(H, f.a.as_str())]),
        ("/h2", vec![]),
        ("/h2", vec![(H, "wrong")]),
        ("/h2", vec![(H, f.a.as_str()), (H, f.a.as_str())]),
        ("/healthz", vec![]),
    ];
    let want = vec![200, 403, 403, 403, 200];

    // HTTPS, ALPN h2 (the ALB's target-group protocol version HTTP2), self-signed.
    let stream = tls::connect(
        f.proxy.enforcing(),
        tls::client_config(None, &[b"h2", b"http/1.1"]),
    )
    .await
    .unwrap();
    assert!(tls::negotiated_h2(&stream));
    assert_eq!(tls::h2_gets(stream, &requests).await.unwrap(), want);

    // Plain TCP with prior knowledge (h2c), on the internal listener: no check there.
    let internal = TcpStream::connect(f.proxy.internal()).await.unwrap();
    let statuses = tls::h2_gets(internal, &[("/h2c", vec![]), ("/h2c", vec![(H, "x")])])
        .await
        .unwrap();
    assert_eq!(statuses, [200, 200]);
    let seen = f.upstream.seen_at("/h2");
    assert_eq!(
        seen.len(),
        1,
        "only the accepted HTTP/2 request reached the app"
    );
    assert!(
        f.upstream
            .seen_at("/h2c")
            .iter()
            .all(|s| s.headers.get(H).is_none())
    );
    assert_eq!(
        seen[0].headers["host"], "localhost",
        "the :authority becomes Host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_with_prior_knowledge_on_the_enforcing_listener() {
    let f = Fixture::start(|b| b).await;
    let stream = TcpStream::connect(f.proxy.enforcing()).await.unwrap();
    let statuses = tls::h2_gets(
        stream,
        &[
            ("/", vec![(H, f.a.as_str())]),
            ("/", vec![]),
            ("/", vec![(H, f.a.as_str()), (H, f.b.as_str())]),
        ],
    )
    .await
    .unwrap();
    assert_eq!(statuses, [200, 403, 403]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tls_handshake_is_cut_off() {
    let f = Fixture::start(|b| {
        b.env("EDGEGUARD_TLS_SELF_SIGNED", "true")
            .arg("--tls-handshake-timeout", "500ms")
    })
    .await;
    let mut stream = TcpStream::connect(f.proxy.enforcing()).await.unwrap();
    let start = Instant::now();
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut sink)).await;
    assert!(
        closed.is_ok(),
        "the proxy kept a silent TLS connection open"
    );
    assert!(start.elapsed() >= Duration::from_millis(400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_pass_after_the_check_and_bytes_flow_both_ways() {
    let f = Fixture::start(|b| b).await;
    let upgrade = |value: &str| {
        format!(
            "GET /ws HTTP/1.1\r\nHost: app.example.com\r\n{H}: {value}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
    };
    // Without a valid header: 403 (the connection stays HTTP), and the app sees nothing.
    let mut rejected = TcpStream::connect(f.proxy.enforcing()).await.unwrap();
    rejected
        .write_all(upgrade("wrong").as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut rejected).await;
    assert!(head.starts_with("http/1.1 403"), "{head}");
    assert!(f.upstream.seen_at("/ws").is_empty());

    let mut stream = TcpStream::connect(f.proxy.enforcing()).await.unwrap();
    stream.write_all(upgrade(&f.a).as_bytes()).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    for message in [&b"hello through the tunnel"[..], b"and back again"] {
        stream.write_all(message).await.unwrap();
        let mut echo = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut echo))
            .await
            .expect("echo within 10s")
            .unwrap();
        assert_eq!(echo, message);
    }
    let seen = f.upstream.seen_at("/ws");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["upgrade"], "websocket");
    assert!(seen[0].headers.get(H).is_none());
}

/// Reads a response head byte by byte (what follows belongs to the tunnel), lowercased.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("a response head within 10s")
            .unwrap();
        assert_eq!(n, 1, "closed before the end of the head");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}
