//! The one walk over a request's fields (`fields::Fields`) against the lookups it replaced.
//! For any list of fields, what the walk says (keep-alive for HTTP/1.0 and 1.1, how many
//! `Host` and `Content-Length`, `Transfer-Encoding`, `Upgrade`, the edge) and what its
//! hop-by-hop removal leaves, of a request and of a response, must equal what the plain
//! rule gives: a lookup per question, and a removal of every listed field and every field
//! `Connection` names but those that frame or route the message.
#![no_main]

use edgeguard_proxy::edge::Edge;
use edgeguard_proxy::fields::{Fields, remove_hop_by_hop, remove_request_hop_by_hop};
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE, VIA};
use http::{HeaderMap, HeaderName, HeaderValue, Version};
use libfuzzer_sys::fuzz_target;

/// Names the walk matches, reachable by a one-byte index so the fuzzer finds them fast.
const NAMES: [&str; 15] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "http2-settings",
    "te",
    "transfer-encoding",
    "upgrade",
    "trailer",
    "host",
    "via",
    "x-amz-cf-id",
    "x-amzn-apigateway-api-id",
    "x-origin-verify",
    "x-named",
    "content-length",
];

fuzz_target!(|data: &[u8]| {
    // Fields separated by 0xFE; each "name\0value", or an index byte < 15 then the value.
    let mut headers = HeaderMap::new();
    for field in data.split(|b| *b == 0xfe) {
        let (name, value) = match field.first() {
            Some(&i) if usize::from(i) < NAMES.len() => {
                (NAMES[usize::from(i)].as_bytes(), &field[1..])
            }
            _ => match field.iter().position(|b| *b == 0) {
                Some(i) => (&field[..i], &field[i + 1..]),
                None => continue,
            },
        };
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    let fields = Fields::scan(&headers);
    for version in [Version::HTTP_10, Version::HTTP_11] {
        assert_eq!(
            fields.keeps_alive(version),
            keeps_alive(&headers, version),
            "{version:?}"
        );
    }
    assert!(!fields.keeps_alive(Version::HTTP_2));
    assert_eq!(usize::from(fields.hosts()), headers.get_all(HOST).iter().count().min(2));
    assert_eq!(
        usize::from(fields.content_lengths()),
        headers.get_all(CONTENT_LENGTH).iter().count().min(2)
    );
    assert_eq!(fields.has_transfer_encoding(), headers.contains_key(TRANSFER_ENCODING));
    assert_eq!(fields.has_upgrade(), headers.contains_key(UPGRADE));
    assert_eq!(fields.edge(), edge(&headers));
    assert_eq!(fields.edge(), Edge::of(&headers));

    let mut ours = headers.clone();
    remove_request_hop_by_hop(&mut ours);
    let mut plain = headers.clone();
    remove_plainly(&mut plain, true);
    assert_eq!(ours, plain, "request");

    let mut ours = headers.clone();
    remove_hop_by_hop(&mut ours);
    let mut plain = headers;
    remove_plainly(&mut plain, false);
    assert_eq!(ours, plain, "response");
});

/// RFC 9112 §9.3, a lookup and a split: HTTP/1.1 unless `close`, HTTP/1.0 only with
/// `keep-alive`; values that are not visible ASCII are skipped.
fn keeps_alive(headers: &HeaderMap, version: Version) -> bool {
    let has = |token: &str| {
        headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    match version {
        Version::HTTP_11 => !has("close"),
        _ => has("keep-alive"),
    }
}

/// Three lookups: API Gateway's id first (an edge-optimized API comes through CloudFront
/// too), then CloudFront's id or its name at the end of the first `Via`.
fn edge(headers: &HeaderMap) -> Edge {
    let via = headers.get(VIA).is_some_and(|v| {
        let v = v.as_bytes();
        v.len() >= 12 && v[v.len() - 12..].eq_ignore_ascii_case(b"(cloudfront)")
    });
    if headers.contains_key("x-amzn-apigateway-api-id") {
        Edge::ApiGateway
    } else if headers.contains_key("x-amz-cf-id") || via {
        Edge::CloudFront
    } else {
        Edge::Other
    }
}

/// Every field `Connection` names (but `keep-alive` and `close`, and the fields that frame
/// or route the message), then every listed one, each by its own removal; `Trailer` from
/// requests only.
fn remove_plainly(headers: &mut HeaderMap, request: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.eq_ignore_ascii_case("keep-alive") && !n.eq_ignore_ascii_case("close"))
        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
        .filter(|n| *n != HOST && *n != CONTENT_LENGTH && *n != TRANSFER_ENCODING)
        .collect();
    for name in named {
        headers.remove(name);
    }
    let listed = [
        CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        HeaderName::from_static("http2-settings"),
        TE,
        TRANSFER_ENCODING,
        UPGRADE,
    ];
    for name in listed {
        headers.remove(name);
    }
    if request {
        headers.remove(TRAILER);
    }
}
