//! The app's response head on the fast path: parsed, its framing decided, its hop-by-hop
//! fields removed, and the client's head written. The rules are `relay`'s (hyper's path):
//! a response whose framing is ambiguous or that cannot be relayed as it is, is a 502,
//! never relayed.
//!
//! | app's response | client gets |
//! |---|---|
//! | `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.3) | 502 |
//! | a transfer coding besides one `chunked` (§6.1) | 502 |
//! | two `Content-Length` fields, or one that is not 1 to 18 digits (§6.3) | 502 (counted as `other`, as hyper's parse failure is) |
//! | `101` (no fast-path request asks for an upgrade: RFC 9110 §15.2.2) | 502 |
//! | another `1xx` | nothing: skipped, as hyper's client does |
//! | `204` | no body; its `Content-Length` dropped (RFC 9110 §8.6) |
//! | `304`, or any answer to HEAD | no body; fields as they are (RFC 9110 §8.6) |
//! | chunked | chunked, re-framed; chunk extensions and trailers dropped |
//! | neither length nor chunked | the body until the app closes, then `Connection: close` |
//! | a head httparse refuses (obs-fold, bare CR, bad names), or larger than 64 KiB | 502 (`other`) |
//!
//! Then the hop-by-hop fields go (RFC 9110 §7.6.1): `Connection` and those it names (but
//! `Host`, `Content-Length`, `Transfer-Encoding`), `Keep-Alive`, `Proxy-Connection`,
//! `TE`, `Transfer-Encoding` (the fast path writes its own), `Upgrade`, `HTTP2-Settings`.

use std::mem::MaybeUninit;

use super::eligible::MAX_FIELDS;

/// The largest app response head taken.
pub const MAX_HEAD: usize = 64 * 1024;

/// How the response body is delimited on the app's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// What the bytes from the app hold so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Partial,
    /// A 1xx head of this length, to be skipped.
    Interim(usize),
    /// Parsed, but not relayed as it is (CL and TE, a coding, a 101): 502, counted as
    /// `malformed_response` (as `relay` counts it on hyper's path).
    Unrelayable,
    /// A head that does not parse, or a length that is not one plain number: 502, counted
    /// as `other` (hyper's client fails to parse those).
    Unparsable,
    Ready(Head),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub len: usize,
    pub framing: Framing,
    /// The app's connection ends after this response.
    pub app_closes: bool,
    /// The client's connection must end after it (a body delimited by the close).
    pub client_closes: bool,
}

/// Reads the response head at the start of `bytes`; on `Ready`, `out` holds the head the
/// client gets, with `Connection: close` when `close_client` or the framing needs it.
pub fn parse(bytes: &[u8], head_request: bool, close_client: bool, out: &mut Vec<u8>) -> Parsed {
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut res = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut res,
        bytes,
        &mut fields,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
        Ok(httparse::Status::Partial) if bytes.len() <= MAX_HEAD => return Parsed::Partial,
        _ => return Parsed::Unparsable,
    };
    let code = res.code.unwrap_or_default();
    match code {
        101 => return Parsed::Unrelayable,
        100..=199 => return Parsed::Interim(len),
        _ => {}
    }
    let mut lengths = 0u8;
    let mut length = 0u64;
    let mut codings = 0u8;
    let mut chunked = false;
    let mut app_closes = res.version == Some(0);
    let mut names_fields = false;
    for field in res.headers.iter() {
        let (name, value) = (field.name.as_bytes(), field.value);
        if is(name, "content-length") {
            lengths = lengths.saturating_add(1);
            match digits(value) {
                Some(n) => length = n,
                None => return Parsed::Unparsable,
            }
        } else if is(name, "transfer-encoding") {
            codings = codings.saturating_add(1);
            chunked = value.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if is(name, "connection") {
            for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    app_closes = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    app_closes &= res.version != Some(0);
                } else if !token.is_empty() {
                    names_fields = true;
                }
            }
        }
    }
    if lengths > 1 {
        return Parsed::Unparsable;
    }
    if codings > 0 && (lengths > 0 || codings > 1 || !chunked) {
        return Parsed::Unrelayable;
    }
    let framing = if head_request || code == 204 || code == 304 {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if lengths == 1 {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    // A body delimited by the app's close is also delimited by the client's.
    let client_closes = close_client || framing == Framing::UntilClose;
    if framing == Framing::UntilClose {
        app_closes = true;
    }
    write_head(out, &res, code, names_fields, framing, client_closes);
    Parsed::Ready(Head {
        len,
        framing,
        app_closes,
        client_closes,
    })
}

fn write_head(
    out: &mut Vec<u8>,
    res: &httparse::Response<'_, '_>,
    code: u16,
    names_fields: bool,
    framing: Framing,
    client_closes: bool,
) {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&[
        b'0' + (code / 100) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(res.reason.unwrap_or_default().as_bytes());
    out.extend_from_slice(b"\r\n");
    for field in res.headers.iter() {
        let name = field.name.as_bytes();
        if HOP_BY_HOP.iter().any(|h| is(name, h))
            || (code == 204 && is(name, "content-length"))
            || (names_fields && named_by_connection(res, name))
        {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(field.value);
        out.extend_from_slice(b"\r\n");
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if client_closes {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
];

/// A field a `Connection` token names, except those that frame or route the message
/// (`fields::NEVER_NAMED`).
fn named_by_connection(res: &httparse::Response<'_, '_>, name: &[u8]) -> bool {
    if is(name, "host") || is(name, "content-length") || is(name, "transfer-encoding") {
        return false;
    }
    res.headers
        .iter()
        .filter(|f| is(f.name.as_bytes(), "connection"))
        .flat_map(|f| f.value.split(|&b| b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(name))
}

fn is(name: &[u8], known: &str) -> bool {
    name.len() == known.len() && name.eq_ignore_ascii_case(known.as_bytes())
}

/// 1 to 18 digits.
fn digits(value: &[u8]) -> Option<u64> {
    let ok = !value.is_empty() && value.len() <= 18 && value.iter().all(u8::is_ascii_digit);
    ok.then(|| value.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests;
