//! The request gate end to end: arbitrary bytes into a served connection of the proxy's
//! enforcing listener (the binary's own serving code: sniffing, HTTP/1.1 or h2c, the check,
//! the strip, forwarding) in front of an upstream that records what reaches it. Invariants:
//! - the secret never reaches the upstream: no `x-origin-verify` field, no trailers at
//!   all (request trailers are dropped), and a field whose value is the secret only under a
//!   name the client itself sent (a client may put the secret anywhere it likes: the proxy
//!   must not copy it anywhere);
//! - nothing reaches the upstream without the secret in the input, except a GET or HEAD of
//!   the health path;
//! - every request that reaches it has exactly one `Host`, and (over HTTP/1.1, whose bytes
//!   the oracle can read) that value is in the input: the client's `Host`, or the
//!   authority of an absolute-form target; never CONNECT;
//! - over HTTP/1.1, the upstream never receives more complete requests than the input
//!   holds: a request the client did not finish (the input ends mid-body) is never
//!   completed (`complete_requests`, a plain reading of RFC 9112 §6.3 with httparse).
//!
//! On the HTTP/1.1 path `EDGEGUARD_FUZZ_H1_FAST_PATH` names (`proxy_stage::fast_path`):
//! scripts/fuzz runs it on hyper's and on the fast path (`h1`).
#![no_main]

#[path = "common/proxy_stage.rs"]
mod proxy_stage;
#[path = "common/recorder.rs"]
mod recorder;

use std::sync::LazyLock;

use http::{HeaderName, Method};
use libfuzzer_sys::fuzz_target;
use proxy_stage::SECRET;
use recorder::Recorder;
use tokio::runtime::Runtime;

const HEADER: HeaderName = HeaderName::from_static("x-origin-verify");

struct Stage {
    runtime: Runtime,
    recorder: Recorder,
}

static STAGE: LazyLock<Stage> = LazyLock::new(|| {
    let runtime = proxy_stage::runtime();
    let recorder = runtime.block_on(Recorder::start(&[]));
    Stage { runtime, recorder }
});

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    let stage = &*STAGE;
    stage.runtime.block_on(stage.recorder.run(data));
    let with_secret = contains(data, SECRET.as_bytes());
    let lowered = data.to_ascii_lowercase();
    // HPACK may Huffman-code a field name, so over HTTP/2 the name need not appear as is.
    let h2 = data.starts_with(b"PRI * HTTP/2.0");
    for s in stage.recorder.seen().iter() {
        assert!(
            s.trailers.is_none(),
            "request trailers reached the upstream"
        );
        for (name, value) in &s.headers {
            assert_ne!(name, HEADER, "the header reached the upstream");
            if value.as_bytes() == SECRET.as_bytes() {
                assert!(
                    h2 || contains(&lowered, name.as_str().as_bytes()),
                    "the secret reached the upstream in {name}, a field the client did not send"
                );
            }
        }
        assert_ne!(s.method, Method::CONNECT, "a CONNECT reached the upstream");
        let hosts: Vec<_> = s.headers.get_all(http::header::HOST).iter().collect();
        assert_eq!(hosts.len(), 1, "{} {} reached the upstream with {} Host fields", s.method, s.target, hosts.len());
        if !h2 {
            assert!(
                hosts[0].is_empty() || contains(data, hosts[0].as_bytes()) || hosts[0].as_bytes() == stage.recorder.upstream.to_string().as_bytes(),
                "a Host the client did not send: {:?}",
                hosts[0]
            );
        }
        let health = (s.method == Method::GET || s.method == Method::HEAD) && s.path() == "/healthz";
        assert!(
            with_secret || health,
            "{} {} reached the upstream without the secret in the input",
            s.method,
            s.target
        );
    }
    if !h2 {
        if let Some(most) = complete_requests(data) {
            let completed = stage.recorder.seen().iter().filter(|s| s.complete).count();
            assert!(
                completed <= most,
                "the upstream completed {completed} requests; the input holds at most {most}"
            );
        }
    }
});

/// How many requests of `data` (HTTP/1.1 on one connection) are complete, head and body
/// (RFC 9112 §6.3: `Transfer-Encoding: chunked`, else `Content-Length`, else none).
/// `None` when the bytes hold something this plain reading does not follow (a head
/// httparse refuses, two lengths, a coding besides `chunked`): the proxy refuses those.
fn complete_requests(mut data: &[u8]) -> Option<usize> {
    let mut complete = 0;
    loop {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut fields);
        let head = match req.parse(data) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Some(complete),
            Err(_) => return None,
        };
        let mut length = None;
        let mut chunked = false;
        for f in req.headers.iter() {
            if f.name.eq_ignore_ascii_case("content-length") {
                let n: usize = std::str::from_utf8(f.value).ok()?.trim().parse().ok()?;
                if length.is_some_and(|l| l != n) {
                    return None;
                }
                length = Some(n);
            } else if f.name.eq_ignore_ascii_case("transfer-encoding") {
                if !f.value.trim_ascii().eq_ignore_ascii_case(b"chunked") || chunked {
                    return None;
                }
                chunked = true;
            }
        }
        data = &data[head..];
        let body = if chunked {
            match chunked_length(data)? {
                Some(n) => n,
                None => return Some(complete),
            }
        } else {
            let n = length.unwrap_or(0);
            if data.len() < n {
                return Some(complete);
            }
            n
        };
        data = &data[body..];
        complete += 1;
    }
}

/// The length of a complete chunked body at the start of `data` (`Some(None)`: it is cut
/// off; `None`: not a chunked body this reading follows).
fn chunked_length(data: &[u8]) -> Option<Option<usize>> {
    let mut at = 0;
    loop {
        let Some(line) = data[at..].windows(2).position(|w| w == b"\r\n") else {
            return Some(None);
        };
        let size_text = std::str::from_utf8(&data[at..at + line]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at += line + 2;
        if size == 0 {
            // Trailer lines, then an empty line.
            loop {
                let Some(line) = data[at..].windows(2).position(|w| w == b"\r\n") else {
                    return Some(None);
                };
                at += line + 2;
                if line == 0 {
                    return Some(Some(at));
                }
            }
        }
        if data.len() < at + size + 2 {
            return Some(None);
        }
        at += size + 2;
    }
}
