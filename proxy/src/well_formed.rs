//! What a request must be to be forwarded, and the `Host` the app receives.
//!
//! An app behind the proxy routes by `Host`, checks it, and parses the body by the
//! framing fields: it trusts the proxy to hand it one well-formed request. So every
//! request that goes on (accepted, or let through on a health path or the internal
//! listener) passes [`check`] first, which decides the one `Host` the app gets:
//!
//! | request | rule | app receives |
//! |---|---|---|
//! | HTTP/1.1 without `Host`, with two, or with an invalid one (a list, userinfo, spaces) | RFC 9112 §3.2 | nothing: 400 |
//! | HTTP/1.1 in absolute form (`GET http://a/x`) | RFC 9112 §3.2.2 | `Host: a`, target `/x` |
//! | HTTP/1.0 without `Host` | (no authority) | the upstream's authority |
//! | HTTP/2 with `:authority` | RFC 9113 §8.3.1 | `Host` = `:authority`, any `host` field replaced |
//! | HTTP/2 without `:path`, with a `:path` not starting with `/`, or a repeated `content-length` | RFC 9113 §8.1.1, §8.3.1 | nothing: stream reset `PROTOCOL_ERROR` |
//! | an authority with userinfo (`user@host`) | RFC 9110 §4.2.4, RFC 9113 §8.3.1 | nothing: 400 |
//! | `*` as target of anything but OPTIONS | RFC 9112 §3.2.4 | nothing: 400 |
//! | a transfer coding other than `chunked` | RFC 9112 §6.1 (would reach the app undecoded) | nothing: 501 |
//! | CONNECT, any listener, any version | an origin app has no use for a tunnel | nothing: 405 |
//!
//! The rest of the framing is hyper's and h2's (RFC 9112 §6.3: both `Content-Length` and
//! `Transfer-Encoding` → `Content-Length` dropped; differing lengths → 400; h2: a length
//! that does not match the DATA → stream reset), and `fields` keeps a `Connection` field
//! from removing `Host`, `Content-Length` or `Transfer-Encoding`.

use http::header::{HOST, TRANSFER_ENCODING};
use http::uri::Authority;
use http::{HeaderValue, Method, Request, StatusCode, Uri, Version};

use crate::fields::Fields;
use crate::host::host_ok;

/// Why a request is not forwarded. Also the marker a malformed request's answer carries
/// in its extensions, so that the HTTP/2 server resets the stream instead (RFC 9113 §8.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// HTTP/1.1 without `Host`, or HTTP/2 with neither `:authority` nor `host`.
    NoHost,
    /// More than one `Host` field.
    ManyHosts,
    /// A `Host` (or authority) that is not `host[:port]`: a list, spaces, userinfo.
    BadHost,
    /// A target that is not origin form (`/…`), absolute form with http(s), or `*` for
    /// OPTIONS; on HTTP/2, no `:path`.
    BadTarget,
    /// HTTP/2: `content-length` more than once.
    RepeatedLength,
    /// A transfer coding besides `chunked` (501), or `chunked` twice.
    TransferCoding,
    /// CONNECT (405).
    Connect,
}

impl Malformed {
    pub const ALL: [Self; 7] = [
        Self::NoHost,
        Self::ManyHosts,
        Self::BadHost,
        Self::BadTarget,
        Self::RepeatedLength,
        Self::TransferCoding,
        Self::Connect,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoHost => "no_host",
            Self::ManyHosts => "many_hosts",
            Self::BadHost => "bad_host",
            Self::BadTarget => "bad_target",
            Self::RepeatedLength => "repeated_length",
            Self::TransferCoding => "transfer_coding",
            Self::Connect => "connect",
        }
    }

    /// The answer on HTTP/1.1 (HTTP/2 resets the stream, except for CONNECT).
    pub fn status(self) -> StatusCode {
        match self {
            Self::Connect => StatusCode::METHOD_NOT_ALLOWED,
            Self::TransferCoding => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Whether an HTTP/2 stream is reset for it (a CONNECT is well formed: it gets its
    /// 405 like on HTTP/1.1).
    pub fn resets_h2_stream(self) -> bool {
        self != Self::Connect
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT is not forwarded\n",
            Self::TransferCoding => "transfer coding not implemented\n",
            _ => "bad request\n",
        }
    }
}

/// The `Host` the app receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// The request's one `Host` field is it.
    Keep,
    /// This value replaces every `host` field (absolute form, HTTP/2's `:authority`).
    Set(HeaderValue),
    /// HTTP/1.0 without `Host`: the upstream's authority, as a client connecting to the
    /// app directly would send.
    Upstream,
}

/// Whether `req` (whose fields are `fields`) may be forwarded, and with which `Host`.
pub fn check<B>(req: &Request<B>, fields: &Fields) -> Result<Host, Malformed> {
    if req.method() == Method::CONNECT {
        return Err(Malformed::Connect);
    }
    match req.version() {
        Version::HTTP_2 => check_h2(req, fields),
        Version::HTTP_11 | Version::HTTP_10 => check_h1(req, fields),
        _ => Err(Malformed::BadTarget),
    }
}

fn check_h1<B>(req: &Request<B>, fields: &Fields) -> Result<Host, Malformed> {
    if fields.has_transfer_encoding() {
        transfer_coding(req)?;
    }
    let has_host = match fields.hosts() {
        0 if req.version() == Version::HTTP_11 => return Err(Malformed::NoHost),
        0 => false,
        1 => true,
        _ => return Err(Malformed::ManyHosts),
    };
    if !fields.hosts_valid() {
        return Err(Malformed::BadHost);
    }
    let uri = req.uri();
    match uri.scheme_str() {
        // Absolute form: its authority is the request's; the received `Host` is ignored.
        Some(scheme) => {
            if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                return Err(Malformed::BadTarget);
            }
            let authority = uri.authority().ok_or(Malformed::BadTarget)?;
            Ok(Host::Set(authority_host(authority)?))
        }
        None => {
            target_ok(req.method(), uri)?;
            Ok(if has_host { Host::Keep } else { Host::Upstream })
        }
    }
}

fn check_h2<B>(req: &Request<B>, fields: &Fields) -> Result<Host, Malformed> {
    let uri = req.uri();
    // h2 leaves the path empty when `:path` is absent (and still reports "/" for it):
    // only an origin-form URI of the same path shows the difference.
    let path = uri.path_and_query().ok_or(Malformed::BadTarget)?;
    if Uri::from(path.clone()).path().is_empty() {
        return Err(Malformed::BadTarget);
    }
    target_ok(req.method(), &Uri::from(path.clone()))?;
    if fields.content_lengths() > 1 {
        return Err(Malformed::RepeatedLength);
    }
    if let Some(authority) = uri.authority() {
        return Ok(Host::Set(authority_host(authority)?));
    }
    // No `:authority`: a translated HTTP/1.1 request may carry `host` instead.
    match fields.hosts() {
        0 => Err(Malformed::NoHost),
        // Not empty: HTTP/2 has no request without an authority to send it for.
        1 if fields.hosts_valid() && req.headers().get(HOST).is_some_and(|h| !h.is_empty()) => {
            Ok(Host::Keep)
        }
        1 => Err(Malformed::BadHost),
        _ => Err(Malformed::ManyHosts),
    }
}

/// Origin form (`/…`), or `*` for OPTIONS (RFC 9112 §3.2.1, §3.2.4).
fn target_ok(method: &Method, uri: &Uri) -> Result<(), Malformed> {
    let target = uri.path_and_query().map_or("", |p| p.as_str());
    match target.as_bytes().first() {
        Some(b'/') => Ok(()),
        Some(b'*') if target == "*" && method == Method::OPTIONS => Ok(()),
        _ => Err(Malformed::BadTarget),
    }
}

/// An authority as a `Host` value: without userinfo (RFC 9110 §4.2.4: a sender must not
/// generate it; RFC 9113 §8.3.1: it must not be in `:authority`), and `host[:port]`.
fn authority_host(authority: &Authority) -> Result<HeaderValue, Malformed> {
    let text = authority.as_str();
    if text.contains('@') {
        return Err(Malformed::BadHost);
    }
    if !host_ok(text.as_bytes()) || text.is_empty() {
        return Err(Malformed::BadHost);
    }
    HeaderValue::from_str(text).map_err(|_| Malformed::BadHost)
}

/// The request's transfer coding is `chunked` alone (hyper has already refused one that
/// does not end in `chunked`, and HTTP/1.0 with any): another coding would reach the app
/// still coded once the field is removed, and `chunked` twice is not a valid framing.
fn transfer_coding<B>(req: &Request<B>) -> Result<(), Malformed> {
    let mut chunked = 0;
    for value in req.headers().get_all(TRANSFER_ENCODING) {
        let Ok(value) = value.to_str() else {
            return Err(Malformed::TransferCoding);
        };
        for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if !coding.eq_ignore_ascii_case("chunked") {
                return Err(Malformed::TransferCoding);
            }
            chunked += 1;
        }
    }
    if chunked == 1 {
        Ok(())
    } else {
        Err(Malformed::TransferCoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_once() {
        for (i, m) in Malformed::ALL.iter().enumerate() {
            assert_eq!(Malformed::ALL.iter().position(|x| x == m), Some(i));
        }
        let names: std::collections::HashSet<_> =
            Malformed::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(names.len(), Malformed::ALL.len());
    }
}
