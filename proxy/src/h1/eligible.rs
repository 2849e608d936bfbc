//! Which HTTP/1.1 requests the fast path serves: the rule, in one function, with its
//! reasons. Everything it refuses goes to hyper, as every request did before the fast path
//! (`h1`), so the rule may be as strict as it likes: when in doubt, not eligible.
//!
//! A request is eligible when (RFC 9112 unless said otherwise):
//!
//! | condition | why |
//! |---|---|
//! | `HTTP/1.1` | HTTP/1.0's keep-alive and its absent `Host` are hyper's business |
//! | an origin-form target (`/…`) of RFC 3986 `pchar`s, `/` and `?`, no `#` | §3.2.1; absolute form, `*` and CONNECT's authority form are hyper's (`well_formed`) |
//! | not CONNECT | an origin app has no use for a tunnel (hyper answers 405) |
//! | exactly one `Host`, a non-empty valid `host[:port]` | §3.2 (`host::host_ok`) |
//! | no `Transfer-Encoding` | §6.1: a chunked request body, and CL.TE / TE.CL, are hyper's |
//! | `Content-Length` absent, or one field of 1 to 18 digits without a leading zero | §6.3: a list, a sign, spaces, leading zeros or an overflow are hyper's (or its 400) |
//! | no `Expect`, `Upgrade` or `HTTP2-Settings` | §9.3 / RFC 9110 §10.1.1, §7.8: interim responses and protocol switches are hyper's |
//! | `Connection` naming only `close` / `keep-alive` | §9.6, RFC 9110 §7.6.1: no field is removed because a client named it |
//! | every line ends in CRLF: no bare LF, no bare CR | §2.2: a bare LF is a line end to some parsers and not others |
//! | no obs-fold | §5.2 (httparse refuses it unless told: the head never parses) |
//! | every name a token, every value field-content (no NUL, CR, LF, other CTLs) | RFC 9110 §5.1, §5.5 (httparse checks; checked again here) |
//! | at most [`MAX_FIELDS`] fields, the head within `--max-header-bytes` | hyper answers 431 |
//!
//! Of an eligible request, the fast path drops the hop-by-hop fields `Connection`,
//! `Keep-Alive`, `Proxy-Connection`, `TE` and `Trailer` (RFC 9110 §7.6.1; there is no
//! trailer section to announce on a request with a length), and the secret's fields.

use crate::host::host_ok;

/// The most fields a fast-path head may carry (hyper takes 100; a longer head goes there).
pub const MAX_FIELDS: usize = 64;

/// Why a request is not eligible (a debug-log and test label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    Version,
    Method,
    Target,
    Host,
    TransferEncoding,
    ContentLength,
    Expect,
    Upgrade,
    Connection,
    LineEnding,
    FieldValue,
}

/// What the fast path needs to know of an eligible request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eligible {
    /// The body's length (0 without `Content-Length`).
    pub content_length: u64,
    /// `Connection: close`: the connection ends after the response.
    pub close: bool,
    /// Bit `i`: field `i` is hop-by-hop and is not forwarded.
    pub hop_by_hop: u64,
}

/// The rule. `head` is the whole head as received (request line, fields, the empty line);
/// `req` its parse.
pub fn check(req: &httparse::Request<'_, '_>, head: &[u8]) -> Result<Eligible, Ineligible> {
    if req.version != Some(1) {
        return Err(Ineligible::Version);
    }
    match req.method {
        Some(m) if m != "CONNECT" => {}
        _ => return Err(Ineligible::Method),
    }
    if !req.path.is_some_and(origin_form) {
        return Err(Ineligible::Target);
    }
    if !line_ends_ok(head) {
        return Err(Ineligible::LineEnding);
    }
    let mut hosts = 0u8;
    let mut host_valid = false;
    let mut content_length = None;
    let mut close = false;
    let mut hop_by_hop = 0u64;
    for (i, field) in req.headers.iter().enumerate() {
        let (name, value) = (field.name.as_bytes(), field.value);
        if !value.iter().all(|&b| field_content(b)) {
            return Err(Ineligible::FieldValue);
        }
        // The length picks the candidates; one comparison ignoring case decides.
        let is = |n: &str| name.len() == n.len() && name.eq_ignore_ascii_case(n.as_bytes());
        if is("host") {
            hosts = hosts.saturating_add(1);
            host_valid = !value.is_empty() && host_ok(value);
        } else if is("content-length") {
            if content_length.is_some() {
                return Err(Ineligible::ContentLength);
            }
            content_length = Some(length(value).ok_or(Ineligible::ContentLength)?);
        } else if is("transfer-encoding") {
            return Err(Ineligible::TransferEncoding);
        } else if is("expect") {
            return Err(Ineligible::Expect);
        } else if is("upgrade") || is("http2-settings") {
            return Err(Ineligible::Upgrade);
        } else if is("connection") {
            close |= connection(value).ok_or(Ineligible::Connection)?;
            hop_by_hop |= 1 << i;
        } else if is("keep-alive") || is("proxy-connection") || is("te") || is("trailer") {
            hop_by_hop |= 1 << i;
        }
    }
    if hosts != 1 || !host_valid {
        return Err(Ineligible::Host);
    }
    Ok(Eligible {
        content_length: content_length.unwrap_or(0),
        close,
        hop_by_hop,
    })
}

/// `/` then RFC 3986 `pchar`s, `/` and `?` (path and query): unreserved, `%`,
/// sub-delimiters, `:` and `@`. No `#` (a fragment is never sent), no space, nothing
/// outside visible ASCII: stricter than both httparse and `http::Uri`, so an eligible
/// target is one hyper would take as it is.
fn origin_form(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.first() == Some(&b'/') && bytes.iter().all(|&b| TARGET[usize::from(b)])
}

const TARGET: [bool; 256] = {
    let mut t = [false; 256];
    let allowed =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:@/?";
    let mut i = 0;
    while i < allowed.len() {
        t[allowed[i] as usize] = true;
        i += 1;
    }
    t
};

/// RFC 9110 §5.5 field-content bytes: HTAB, SP, visible ASCII, obs-text.
fn field_content(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// Every LF is preceded by CR, and every CR followed by LF.
fn line_ends_ok(head: &[u8]) -> bool {
    head.iter().enumerate().all(|(i, &b)| match b {
        b'\n' => i > 0 && head[i - 1] == b'\r',
        b'\r' => head.get(i + 1) == Some(&b'\n'),
        _ => true,
    })
}

/// 1 to 18 digits, no leading zero (but `0` itself): nothing to interpret, no overflow.
fn length(value: &[u8]) -> Option<u64> {
    let plain = !value.is_empty()
        && value.len() <= 18
        && value.iter().all(u8::is_ascii_digit)
        && (value[0] != b'0' || value.len() == 1);
    plain.then(|| value.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// `Some(close)` when `Connection` lists only `close` and `keep-alive` (OWS around the
/// commas, no empty element), `None` when it names anything else.
fn connection(value: &[u8]) -> Option<bool> {
    let mut close = false;
    for token in value.split(|&b| b == b',') {
        let token = token.trim_ascii();
        if token.eq_ignore_ascii_case(b"close") {
            close = true;
        } else if !token.eq_ignore_ascii_case(b"keep-alive") {
            return None;
        }
    }
    Some(close)
}

#[cfg(test)]
mod tests;
