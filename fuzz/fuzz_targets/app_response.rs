//! The app's answer end to end: whatever bytes the app sends back to a forwarded request,
//! what the client gets must be a well-formed response (`relay`). The first input byte
//! picks the client, the rest is what the app writes before it closes its connection.
//! - HTTP/1.1 (the request says `Connection: close`, so the client reads to the end): a
//!   head httparse accepts; never a 101 (no upgrade was asked); at most one
//!   `Content-Length`, never with `Transfer-Encoding`; a `Transfer-Encoding` that is
//!   `chunked` alone; no connection-level field; a body within its framing: no byte past
//!   the length or past the last chunk (a body cut short is allowed: the client sees it;
//!   so is nothing at all, when the app's body breaks before its first byte);
//! - HTTP/2 (hyper's client, h2c): the response arrives well formed (hyper's client checks
//!   the frames and fields), or the stream is reset (an app body that breaks); never a
//!   protocol error.
#![no_main]

#[path = "common/proxy_stage.rs"]
mod proxy_stage;

use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use libfuzzer_sys::fuzz_target;
use proxy_stage::SECRET;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;


struct Stage {
    runtime: Runtime,
    proxy: SocketAddr,
    /// What the app answers to the next request.
    answer: Arc<Mutex<Vec<u8>>>,
}

static STAGE: LazyLock<Stage> = LazyLock::new(|| {
    let runtime = proxy_stage::runtime();
    let answer: Arc<Mutex<Vec<u8>>> = Arc::default();
    let proxy = runtime.block_on(start(answer.clone()));
    Stage {
        runtime,
        proxy,
        answer,
    }
});

/// The app: reads a request head, writes the current answer, closes. The proxy: the
/// binary's own stack (`app::Stack`) with short limits.
async fn start(answer: Arc<Mutex<Vec<u8>>>) -> SocketAddr {
    let app = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = app.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = app.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let bytes = answer.lock().unwrap().clone();
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    let upstream = format!("http://{app_addr}");
    proxy_stage::serve(
        &upstream,
        &[
            "--upstream-connect-timeout",
            "1s",
            "--upstream-timeout",
            "1s",
            "--idle-timeout",
            "2s",
            "--header-read-timeout",
            "500ms",
        ],
    )
    .await
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, answer)) = data.split_first() else {
        return;
    };
    let stage = &*STAGE;
    *stage.answer.lock().unwrap() = answer.to_vec();
    stage.runtime.block_on(async {
        if pick & 1 == 0 {
            http1(stage.proxy).await
        } else {
            http2(stage.proxy).await
        }
    });
});

async fn http1(proxy: SocketAddr) {
    let Ok(mut stream) = TcpStream::connect(proxy).await else {
        return;
    };
    let request = format!(
        "GET /x HTTP/1.1\r\nHost: app.example.com\r\nx-origin-verify: {SECRET}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "no end of the response within 5 s");
    check_http1(&got);
}

/// The checks of the module's comment, on what an HTTP/1.1 client read.
fn check_http1(got: &[u8]) {
    if got.is_empty() {
        // The app's body broke before its first byte: hyper's server sends the head with
        // the first bytes of the body, so the connection closes with nothing sent, which a
        // client (the ALB) reads as a failed exchange. Not malformed.
        return;
    }
    let mut fields = [httparse::EMPTY_HEADER; 128];
    let mut response = httparse::Response::new(&mut fields);
    let head = match response.parse(got) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!("not a response head ({other:?}): {:?}", String::from_utf8_lossy(got)),
    };
    let status = response.code.unwrap_or(0);
    assert_ne!(status, 101, "a 101 to a request that asked for no upgrade");
    let mut lengths = Vec::new();
    let mut codings = Vec::new();
    for f in response.headers.iter() {
        let name = f.name.to_ascii_lowercase();
        assert!(
            !["keep-alive", "proxy-connection", "te", "upgrade", "trailer"].contains(&name.as_str()),
            "a connection-level field went out: {name}"
        );
        if name == "content-length" {
            lengths.push(f.value.to_vec());
        }
        if name == "transfer-encoding" {
            codings.push(f.value.to_vec());
        }
    }
    assert!(lengths.len() <= 1, "{} Content-Length fields", lengths.len());
    assert!(
        lengths.is_empty() || codings.is_empty(),
        "both Content-Length and Transfer-Encoding"
    );
    let body = &got[head..];
    if status == 204 || status == 304 {
        assert!(lengths.is_empty() || status == 304, "a 204 with Content-Length");
        assert!(body.is_empty(), "a body after a {status}");
        return;
    }
    if let Some(coding) = codings.first() {
        assert!(
            codings.len() == 1 && coding.eq_ignore_ascii_case(b"chunked"),
            "Transfer-Encoding {:?}",
            String::from_utf8_lossy(coding)
        );
        assert_chunked(body);
    } else if let Some(length) = lengths.first() {
        let length: usize = std::str::from_utf8(length)
            .ok()
            .and_then(|l| l.parse().ok())
            .expect("a numeric Content-Length");
        assert!(body.len() <= length, "{} bytes past a length of {length}", body.len() - length);
    }
}

/// A chunked body, possibly cut short, and nothing after its end.
fn assert_chunked(body: &[u8]) {
    let mut at = 0;
    loop {
        let Some(line) = body[at..].windows(2).position(|w| w == b"\r\n") else {
            return;
        };
        let size_text = std::str::from_utf8(&body[at..at + line]).expect("a chunk size line");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .unwrap_or_else(|_| panic!("a chunk size: {size_text:?}"));
        at += line + 2;
        if size == 0 {
            loop {
                let Some(line) = body[at..].windows(2).position(|w| w == b"\r\n") else {
                    return;
                };
                at += line + 2;
                if line == 0 {
                    assert_eq!(at, body.len(), "bytes after the last chunk");
                    return;
                }
            }
        }
        if body.len() < at + size + 2 {
            return;
        }
        assert_eq!(&body[at + size..at + size + 2], b"\r\n", "a chunk without its CRLF");
        at += size + 2;
    }
}

async fn http2(proxy: SocketAddr) {
    let Ok(stream) = TcpStream::connect(proxy).await else {
        return;
    };
    let exchange = async {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("an HTTP/2 handshake with the proxy");
        tokio::spawn(conn);
        let request = http::Request::get("http://app.example.com/x")
            .header("x-origin-verify", SECRET)
            .body(Empty::<Bytes>::new())
            .unwrap();
        // The head may never come: an app body that breaks right after its head resets
        // the stream before h2 has sent the queued HEADERS. A reset, never a protocol error.
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(e) => {
                let text = format!("{e:?}");
                assert!(
                    text.contains("Reset") && !text.contains("PROTOCOL_ERROR"),
                    "not a well-formed HTTP/2 answer: {text}"
                );
                return;
            }
        };
        assert_ne!(response.status(), 101, "a 101 over HTTP/2");
        // The body may end in a reset (the app's was cut short), never in a protocol error.
        if let Err(e) = response.into_body().collect().await {
            let text = format!("{e:?}");
            assert!(!text.contains("PROTOCOL_ERROR"), "a malformed HTTP/2 body: {text}");
        }
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .expect("the HTTP/2 exchange within 5 s");
}
