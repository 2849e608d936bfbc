//! What of the app's response is relayed to the client.
//!
//! The client may speak HTTP/1.1 or HTTP/2 whatever the app spoke (HTTP/1.1), so a
//! response goes out only when its framing is unambiguous and it can be sent well formed
//! on either; anything else is a 502:
//!
//! | app's response | rule | client gets |
//! |---|---|---|
//! | `Content-Length` and `Transfer-Encoding` | RFC 9112 §6.3 (smuggling, splitting) | 502 |
//! | a transfer coding besides `chunked` | RFC 9112 §6.1 (the coding would be lost with the field) | 502 |
//! | `101` to a request that asked for no upgrade (and any `101` on HTTP/2) | RFC 9110 §15.2.2, RFC 9113 §8.6 | 502 |
//! | `204` with `Content-Length` | RFC 9110 §8.6 | the 204 without it |
//! | anything hyper's client cannot parse (differing lengths, bad chunking, obs-fold) | RFC 9112 | 502 |
//!
//! Then its hop-by-hop fields go (`fields`), except the `Upgrade` of a 101 that switches.

use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::fields::Fields;

const UPGRADE_TOKEN: HeaderValue = HeaderValue::from_static("upgrade");

/// Why a response is not relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrelayable {
    /// Both `Content-Length` and `Transfer-Encoding`.
    Ambiguous,
    /// A transfer coding besides `chunked`.
    Coded,
    /// A 101 nobody asked for.
    Switching,
}

/// Checks the app's response and removes what does not go on. `upgrading`: the request
/// asked for an upgrade, on HTTP/1.1.
pub fn prepare<B>(response: &mut Response<B>, upgrading: bool) -> Result<(), Unrelayable> {
    let status = response.status();
    let switching = status == StatusCode::SWITCHING_PROTOCOLS;
    if switching && !upgrading {
        return Err(Unrelayable::Switching);
    }
    let headers = response.headers_mut();
    // One walk over the fields answers the framing questions and drives the removal.
    let fields = Fields::scan(headers);
    if fields.has_transfer_encoding() {
        if fields.content_lengths() > 0 {
            return Err(Unrelayable::Ambiguous);
        }
        if !chunked_alone(headers) {
            return Err(Unrelayable::Coded);
        }
    }
    if status == StatusCode::NO_CONTENT && fields.content_lengths() > 0 {
        headers.remove(CONTENT_LENGTH);
    }
    let protocol = switching.then(|| headers.get(UPGRADE).cloned()).flatten();
    fields.remove_response_hop_by_hop(headers);
    if let Some(protocol) = protocol {
        restore_upgrade(headers, protocol);
    }
    Ok(())
}

/// Puts back the `Connection: upgrade` and `Upgrade` that hop-by-hop removal takes.
pub fn restore_upgrade(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(CONNECTION, UPGRADE_TOKEN);
    headers.insert(UPGRADE, protocol);
}

/// `Transfer-Encoding` says `chunked` once and nothing else.
fn chunked_alone(headers: &HeaderMap) -> bool {
    let mut codings = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|c| !c.is_empty());
    matches!(
        (codings.next(), codings.next()),
        (Some(c), None) if c.eq_ignore_ascii_case(b"chunked")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, fields: &[(&str, &str)]) -> Response<()> {
        let mut r = Response::builder().status(status);
        for (k, v) in fields {
            r = r.header(*k, *v);
        }
        r.body(()).unwrap()
    }

    /// Status, fields, whether an upgrade was asked, what `prepare` says.
    type Case = (
        u16,
        &'static [(&'static str, &'static str)],
        bool,
        Result<(), Unrelayable>,
    );

    #[test]
    fn only_unambiguous_responses_are_relayed() {
        let cases: [Case; 9] = [
            (200, &[("content-length", "2")], false, Ok(())),
            (200, &[("transfer-encoding", "chunked")], false, Ok(())),
            (200, &[("transfer-encoding", " Chunked ")], false, Ok(())),
            (
                200,
                &[("transfer-encoding", "chunked"), ("content-length", "5")],
                false,
                Err(Unrelayable::Ambiguous),
            ),
            (
                200,
                &[("transfer-encoding", "gzip, chunked")],
                false,
                Err(Unrelayable::Coded),
            ),
            (
                200,
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked"),
                ],
                false,
                Err(Unrelayable::Coded),
            ),
            (
                101,
                &[("upgrade", "websocket")],
                false,
                Err(Unrelayable::Switching),
            ),
            (
                101,
                &[("upgrade", "websocket"), ("connection", "upgrade")],
                true,
                Ok(()),
            ),
            (204, &[("content-length", "5")], false, Ok(())),
        ];
        for (status, fields, upgrading, expected) in cases {
            let mut r = response(status, fields);
            assert_eq!(prepare(&mut r, upgrading), expected, "{status} {fields:?}");
            if expected.is_ok() {
                assert!(!r.headers().contains_key(TRANSFER_ENCODING));
            }
            if status == 204 {
                assert!(!r.headers().contains_key(CONTENT_LENGTH));
            }
            if status == 101 && expected.is_ok() {
                assert_eq!(r.headers()[UPGRADE], "websocket");
                assert_eq!(r.headers()[CONNECTION], "upgrade");
            }
        }
    }

    #[test]
    fn a_connection_field_cannot_take_the_length() {
        let mut r = response(
            200,
            &[
                ("connection", "content-length, x-hop"),
                ("content-length", "2"),
                ("x-hop", "1"),
            ],
        );
        prepare(&mut r, false).unwrap();
        assert_eq!(r.headers()[CONTENT_LENGTH], "2");
        assert!(!r.headers().contains_key("x-hop"));
    }
}
