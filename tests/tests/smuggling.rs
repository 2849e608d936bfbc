//! Request smuggling, the raw bytes of each class, against the proxy on whichever HTTP/1.1
//! path the environment chooses (scripts/test runs this on both: `--h1-fast-path on`, whose
//! eligibility rule sends every one of these to hyper, and `off`). Each attempt ends with a
//! request without the secret (`/smuggled`) hidden where a parser that disagrees with the
//! proxy's would see a second request: the app must never get it, and the client's answers
//! must be the same on both paths.

use std::time::Duration;

use edgeguard_tests::fixture::Fixture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `bytes` on a new connection (then closes its sending side when `half_close`) and
/// returns everything the proxy answers until it closes.
async fn answers(f: &Fixture, bytes: &[u8], half_close: bool) -> String {
    let mut stream = TcpStream::connect(f.proxy.enforcing()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    if half_close {
        stream.shutdown().await.unwrap();
    }
    let mut data = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut data))
        .await
        .expect("the proxy closes within 20 s")
        .expect("read");
    String::from_utf8_lossy(&data).into_owned()
}

/// The statuses of the answers to `bytes`, in order (the bodies here never hold
/// `HTTP/1.1 `).
async fn statuses(f: &Fixture, bytes: &[u8]) -> Vec<u16> {
    let text = answers(f, bytes, true).await;
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok())
        .collect()
}

fn smuggled() -> &'static str {
    "GET /smuggled HTTP/1.1\r\nHost: app.example.com\r\n\r\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_smuggling_class_gets_a_request_past_the_check() {
    let f = Fixture::start(|b| b).await;
    let s = format!("x-origin-verify: {}", f.a);
    let chunk = smuggled();
    let cases: Vec<(&str, String, Vec<u16>)> = vec![
        (
            // CL.TE: the proxy reads the chunked body, not the length, and closes the
            // connection after answering (RFC 9112 §6.1: "the server MUST close the
            // connection after responding to such a request"): nothing after it is read.
            "CL.TE",
            format!(
                "POST /cl-te HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{chunk}"
            ),
            vec![200],
        ),
        (
            // TE.CL: the smuggled request inside a chunk is body, whatever the length says.
            "TE.CL",
            format!(
                "POST /te-cl HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
                chunk.len()
            ),
            vec![200],
        ),
        (
            "two differing lengths",
            format!(
                "POST /dup HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\nContent-Length: 5\r\nContent-Length: 52\r\n\r\nhello{chunk}"
            ),
            vec![400],
        ),
        (
            "a length with a sign",
            format!(
                "POST /sign HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\nContent-Length: +5\r\n\r\nhello{chunk}"
            ),
            vec![400],
        ),
        (
            // Leading zeros: hyper reads 5; the request after the body has no secret.
            "a length with leading zeros",
            format!(
                "POST /zeros HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\nContent-Length: 005\r\n\r\nhello{chunk}"
            ),
            vec![200, 403],
        ),
        (
            "a list of lengths",
            format!(
                "POST /list HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\nContent-Length: 5, 5\r\n\r\nhello{chunk}"
            ),
            vec![400],
        ),
        (
            // Bare LF line ends: hyper takes them as line ends, so does the proxy's rule
            // (the fast path leaves such a head to hyper): one request, then the next.
            "bare LF",
            format!("GET /bare HTTP/1.1\nHost: app.example.com\n{s}\n\n{chunk}"),
            vec![200, 403],
        ),
        (
            // obs-fold would join the secret's field with the next line on some parsers.
            "obs-fold",
            format!("GET /fold HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\n x\r\n\r\n{chunk}"),
            vec![400],
        ),
        (
            "NUL in a value",
            format!("GET /nul HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\nX: a\0b\r\n\r\n{chunk}"),
            vec![400],
        ),
        (
            "CR in a value",
            format!("GET /cr HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\nX: a\r{chunk}\r\n\r\n"),
            vec![400],
        ),
        (
            // A fast-path request, then one it leaves to hyper (a chunked body), then one
            // without the secret: hyper serves the rest of the connection from the bytes
            // already read, in order.
            "pipelining across the hand-over",
            format!(
                "GET /one HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\n\r\nPOST /two HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n{chunk}"
            ),
            vec![200, 200, 403],
        ),
        (
            // The secret twice: refused, whatever the path.
            "the header twice",
            format!("GET /twice HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\n{s}\r\n\r\n{chunk}"),
            vec![403, 403],
        ),
    ];
    let mut wrong = Vec::new();
    for (name, bytes, want) in &cases {
        let got = statuses(&f, bytes.as_bytes()).await;
        if &got != want {
            wrong.push(format!("{name}: answers {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        f.upstream.seen_at("/smuggled").is_empty(),
        "a smuggled request reached the app"
    );
    for seen in f.upstream.seen() {
        assert!(seen.headers.get("x-origin-verify").is_none(), "{seen:?}");
    }
    let paths: Vec<String> = f
        .upstream
        .seen()
        .iter()
        .map(|s| s.path_and_query.clone())
        .collect();
    assert_eq!(
        paths,
        ["/cl-te", "/te-cl", "/zeros", "/bare", "/one", "/two"],
        "what reached the app"
    );
}

/// A body after the proxy's own answer to HEAD would be read by the client (an ALB) as the
/// start of the next answer: every later response on the connection would be out of step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_to_head_has_no_body_so_the_next_answer_follows_it() {
    let f = Fixture::start(|b| b).await;
    let s = format!("x-origin-verify: {}", f.a);
    let bytes = format!(
        "HEAD /refused HTTP/1.1\r\nHost: app.example.com\r\nx-origin-verify: wrong\r\n\r\nGET /next HTTP/1.1\r\nHost: app.example.com\r\n{s}\r\nConnection: close\r\n\r\n"
    );
    let text = answers(&f, bytes.as_bytes(), false).await;
    let (first, rest) = text.split_once("\r\n\r\n").expect("a head");
    assert!(first.starts_with("HTTP/1.1 403"), "{text}");
    assert!(rest.starts_with("HTTP/1.1 200"), "{text}");
}
