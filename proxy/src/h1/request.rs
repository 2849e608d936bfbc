//! One request head on the fast path: parsed, judged eligible (`eligible`), decided with
//! the gate's own rules and `auth` code, and, when it goes on, written for the app.

use std::mem::MaybeUninit;

use crate::auth::Verdict;
use crate::edge::Clues;
use crate::gate::{Gate, ListenerKind, Outcome};

use super::eligible::{self, Eligible, Ineligible, MAX_FIELDS};

/// What the bytes received so far hold.
#[derive(Debug)]
pub enum Parsed {
    /// Not a whole head yet (and within the size limit).
    Partial,
    /// Not for the fast path: hyper serves the connection from this request on.
    Hyper(Why),
    Ready(Plan),
}

/// Why a request went to hyper (a debug-log label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Ineligible(Ineligible),
    /// httparse refused the head (hyper answers 400), or it has too many fields (431).
    Unparsed,
    /// Larger than `--max-header-bytes` (hyper answers 431).
    TooLarge,
}

/// What to do with a complete, eligible head.
#[derive(Debug)]
pub struct Plan {
    /// The head's length in the buffer; the body follows.
    pub head_len: usize,
    pub request: Eligible,
    /// HEAD: the response has no body whatever its fields say.
    pub head_method: bool,
    pub action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// To the app, with the head written into the output buffer.
    Forward(Outcome),
    /// 403: no accepted value.
    Reject,
    /// 503: nothing loaded (fail closed).
    Unavailable,
}

/// Reads the head at the start of `bytes`. On `Ready(Forward)`, `out` holds the head the
/// app gets: the request line and the fields, less the hop-by-hop ones and the secret's.
pub fn plan(bytes: &[u8], max_head: usize, gate: &Gate, out: &mut Vec<u8>) -> Parsed {
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(bytes, &mut fields) {
        Ok(httparse::Status::Complete(len)) if len <= max_head => len,
        Ok(httparse::Status::Complete(_)) => return Parsed::Hyper(Why::TooLarge),
        Ok(httparse::Status::Partial) if bytes.len() <= max_head => return Parsed::Partial,
        Ok(httparse::Status::Partial) => return Parsed::Hyper(Why::TooLarge),
        Err(_) => return Parsed::Hyper(Why::Unparsed),
    };
    let request = match eligible::check(&req, &bytes[..head_len]) {
        Ok(e) => e,
        Err(why) => return Parsed::Hyper(Why::Ineligible(why)),
    };
    let method = req.method.unwrap_or_default();
    let path = req.path.unwrap_or_default();
    let action = decide(gate, &req, method, path, request.content_length);
    if let Action::Forward(_) = action {
        write_head(out, &req, request.hop_by_hop, gate);
    }
    Parsed::Ready(Plan {
        head_len,
        request,
        head_method: method == "HEAD",
        action,
    })
}

/// The gate's decision (`gate::Gate::decide`) for an eligible head: the internal listener
/// lets everything through, nothing loaded is 503, a health check is let through, and the
/// rest must carry exactly one accepted value (`auth`, the same code). Report mode never
/// gets here (`h1`).
fn decide(
    gate: &Gate,
    req: &httparse::Request<'_, '_>,
    method: &str,
    path: &str,
    content_length: u64,
) -> Action {
    if gate.listener() == ListenerKind::Internal {
        return Action::Forward(Outcome::Bypass);
    }
    let state = gate.state();
    let accepted = state.accepted.load();
    let Some(set) = accepted.as_deref() else {
        state.metrics.nothing_loaded();
        return Action::Unavailable;
    };
    let config = gate.config();
    // `gate::is_health_check`: GET or HEAD of a health path without a body; an eligible
    // request has no upgrade and no transfer coding.
    let path_only = path.split('?').next().unwrap_or_default();
    if (method == "GET" || method == "HEAD")
        && content_length == 0
        && config.health_paths.iter().any(|p| p == path_only)
    {
        return Action::Forward(Outcome::Bypass);
    }
    let name = config.header.as_str().as_bytes();
    let values = req
        .headers
        .iter()
        .filter(|f| f.name.as_bytes().eq_ignore_ascii_case(name))
        .map(|f| f.value);
    let verdict = set.check_values(values);
    let mut clues = Clues::default();
    for field in req.headers.iter() {
        clues.see_raw(field.name.as_bytes(), field.value);
    }
    match verdict {
        Verdict::Accepted(value) => {
            value.record_match(clues.edge());
            Action::Forward(Outcome::Accepted)
        }
        Verdict::Rejected(why) => {
            state.metrics.rejection(why, clues.edge());
            tracing::debug!(reason = why.as_str(), "request rejected");
            Action::Reject
        }
    }
}

/// The request line and every field but the hop-by-hop ones and the secret's, each as
/// `name: value` CRLF: the bytes received, with the line ends and the whitespace around
/// values made plain (the parse already took them apart).
fn write_head(out: &mut Vec<u8>, req: &httparse::Request<'_, '_>, hop_by_hop: u64, gate: &Gate) {
    out.clear();
    let secret = gate.config().header.as_str().as_bytes();
    out.extend_from_slice(req.method.unwrap_or_default().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.path.unwrap_or_default().as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (i, field) in req.headers.iter().enumerate() {
        let name = field.name.as_bytes();
        if hop_by_hop & (1 << i) != 0 || name.eq_ignore_ascii_case(secret) {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(field.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}
