//! The HTTP/1.1 fast path against hyper's: the same bytes, on one connection, into a proxy
//! on each path (`--h1-fast-path on` and `off`, the binary's own stack each, in front of
//! an upstream that records what reaches it). The app must get the same complete requests:
//! the same method, target, fields (each name's values in order; names compared as hyper
//! gives them, lower-case) and body; and the client the same answers (their statuses, in
//! order), so a refusal is the same refusal.
//!
//! What the end of the input cuts off is not compared: a request whose body the input does
//! not finish may reach the app (never complete: `request_gate`) or not, and be answered
//! (502, or 400 for a head cut short) or not, depending on how far its exchange got when the
//! end arrived, on either path (hyper's own forwarding differs so from run to run). And a
//! head that never ends is answered (400, 431) or left to time out by hyper depending on
//! how its bytes arrived: hyper parses again only when new bytes hold a head's end, so a
//! head whose bytes came in two reads is never parsed whole, while the same bytes handed
//! over by the fast path in one piece are. So incomplete requests are left out, and one
//! answer of 400, 431 or 502 more at the end of one side's answers is allowed.
#![no_main]

#[path = "common/proxy_stage.rs"]
mod proxy_stage;
#[path = "common/recorder.rs"]
mod recorder;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use recorder::{Recorder, Seen};
use tokio::runtime::Runtime;

struct Stage {
    runtime: Runtime,
    fast: Recorder,
    hyper: Recorder,
}

static STAGE: LazyLock<Stage> = LazyLock::new(|| {
    let runtime = proxy_stage::runtime();
    let (fast, hyper) = runtime.block_on(async {
        (
            Recorder::start(&["--h1-fast-path", "on"]).await,
            Recorder::start(&["--h1-fast-path", "off"]).await,
        )
    });
    Stage {
        runtime,
        fast,
        hyper,
    }
});

/// A request as the app got it, in a form two paths can be compared by.
#[derive(Debug, PartialEq, Eq)]
struct AtApp {
    method: String,
    target: String,
    fields: BTreeMap<String, Vec<Vec<u8>>>,
    body: Vec<u8>,
    trailers: bool,
}

/// `upstreams`: both recorders' addresses, one of which a request without an authority
/// gets as its `Host` (HTTP/1.0): each path's upstream has its own port, so a `Host` of
/// either is compared as the same name (a client may send either: the fuzzer learns them).
fn at_app(seen: &[Seen], upstreams: &[String; 2]) -> Vec<AtApp> {
    seen.iter()
        .filter(|s| s.complete)
        .map(|s| {
            let mut fields: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
            for (name, value) in &s.headers {
                let value = match value.as_bytes() {
                    v if name == http::header::HOST
                        && upstreams.iter().any(|u| u.as_bytes() == v) =>
                    {
                        b"(the upstream)".to_vec()
                    }
                    v => v.to_vec(),
                };
                fields.entry(name.as_str().to_owned()).or_default().push(value);
            }
            AtApp {
                method: s.method.to_string(),
                target: s.target.clone(),
                fields,
                body: s.body.clone(),
                trailers: s.trailers.is_some(),
            }
        })
        .collect()
}

/// The statuses of the responses in `bytes`, in order, as far as they can be followed.
fn statuses(mut bytes: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    loop {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut fields);
        let Ok(httparse::Status::Complete(head)) = res.parse(bytes) else {
            return out;
        };
        let code = res.code.unwrap_or_default();
        out.push(code);
        let mut length = 0usize;
        let mut chunked = false;
        for f in res.headers.iter() {
            if f.name.eq_ignore_ascii_case("content-length") {
                length = std::str::from_utf8(f.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
            } else if f.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = true;
            }
        }
        bytes = &bytes[head..];
        if chunked {
            // The proxies' own answers and the upstream's are never chunked here.
            return out;
        }
        // An answer to HEAD has no body whatever its length says: the next answer follows
        // at once (no body here starts like a head).
        if (100..200).contains(&code) || code == 204 || code == 304 || bytes.starts_with(b"HTTP/1.") {
            length = 0;
        }
        bytes = &bytes[length.min(bytes.len())..];
    }
}

fuzz_target!(|data: &[u8]| {
    let stage = &*STAGE;
    let (fast_answers, hyper_answers) = stage.runtime.block_on(async {
        (stage.fast.run(data).await, stage.hyper.run(data).await)
    });
    let upstreams = [stage.fast.upstream.to_string(), stage.hyper.upstream.to_string()];
    let fast = at_app(&stage.fast.seen(), &upstreams);
    let hyper = at_app(&stage.hyper.seen(), &upstreams);
    assert_eq!(
        fast, hyper,
        "the app got different requests from the fast path (left) and hyper's (right)"
    );
    let (mut fast, mut hyper) = (statuses(&fast_answers), statuses(&hyper_answers));
    // One answer more at the end, to a request the end of the input cut off.
    let cut_off = |longer: &mut Vec<u16>, shorter: &[u16]| {
        if longer.len() == shorter.len() + 1 && matches!(longer.last(), Some(400 | 431 | 502)) {
            longer.pop();
        }
    };
    cut_off(&mut fast, &hyper);
    cut_off(&mut hyper, &fast);
    assert_eq!(
        fast, hyper,
        "the client got different answers from the fast path (left) and hyper's (right)"
    );
});
