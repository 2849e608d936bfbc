//! The one pass over a message's header fields that the request path reads everything
//! else from, and the removal of hop-by-hop fields it enables.
//!
//! The request path needs to know, of each forwarded request: which connection-level
//! fields it carries (to remove them), whether `Connection` names other fields or says
//! `close` / `keep-alive` (RFC 9112 §9.3), whether it asks for an `Upgrade`, whether it
//! has a `Host` (how many, and valid), and which edge sent it. Asked one by one, each is a
//! hashed lookup in the header map (what they cost together: docs/performance.md). One
//! walk over the fields, matching each name once, answers all of them.

use http::header::{
    CONNECTION, CONTENT_LENGTH, HOST, HeaderName, HeaderValue, TE, TRAILER, TRANSFER_ENCODING,
    UPGRADE,
};
use http::{HeaderMap, Version};

use crate::edge::{Clues, Edge};
use crate::host::host_ok;

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
/// Connection-specific (RFC 9113 §3.2.1 of its h2c upgrade): never forwarded.
pub(crate) const HTTP2_SETTINGS: HeaderName = HeaderName::from_static("http2-settings");

/// The fields that describe one connection, not the message (RFC 9110 §7.6.1), with the
/// legacy `Keep-Alive` and `Proxy-Connection` and h2c's `HTTP2-Settings`; then, for
/// requests only, `Trailer` (request trailers are dropped: `body::RequestBody`).
/// `Connection` first: it also names others. Bit `i` of [`Fields::present`] is entry `i`.
const HOP_BY_HOP: [HeaderName; 8] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    HTTP2_SETTINGS,
    TE,
    TRANSFER_ENCODING,
    UPGRADE,
    TRAILER,
];
/// All of [`HOP_BY_HOP`] (requests), and all but `Trailer` (responses).
const REQUEST_HOPS: u16 = 0xff;
const RESPONSE_HOPS: u16 = 0x7f;
const TRANSFER_ENCODING_BIT: u16 = 1 << 5;
const UPGRADE_BIT: u16 = 1 << 6;
/// Fields a `Connection` field can name but never remove: they frame or route the
/// message (RFC 9110 §7.6.1 lets a sender list any field; removing these would change
/// the message the app parses, not a connection option).
const NEVER_NAMED: [HeaderName; 3] = [HOST, CONTENT_LENGTH, TRANSFER_ENCODING];

/// What one walk over a message's fields found.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fields {
    /// Bit `i`: `HOP_BY_HOP[i]` is present.
    present: u16,
    /// A `Connection` value names something besides `keep-alive` / `close`.
    names_fields: bool,
    /// `Connection` tokens (values that are not visible ASCII are skipped, as hyper does).
    close: bool,
    keep_alive: bool,
    /// `Host` fields seen (saturating).
    hosts: u8,
    /// Every `Host` value is `host[:port]` (`host::host_ok`), checked in the walk so
    /// that nothing looks the field up again.
    hosts_valid: bool,
    /// `Content-Length` fields seen (saturating).
    content_lengths: u8,
    edge: Clues,
}

impl Fields {
    pub fn scan(headers: &HeaderMap) -> Self {
        let mut f = Self::default();
        for (name, value) in headers {
            let bit = match name.as_str() {
                "connection" => {
                    f.connection(value);
                    0
                }
                "keep-alive" => 1,
                "proxy-connection" => 2,
                "http2-settings" => 3,
                "te" => 4,
                "transfer-encoding" => 5,
                "upgrade" => 6,
                "trailer" => 7,
                "host" => {
                    f.hosts = f.hosts.saturating_add(1);
                    f.hosts_valid = (f.hosts == 1 || f.hosts_valid) && host_ok(value.as_bytes());
                    continue;
                }
                "content-length" => {
                    f.content_lengths = f.content_lengths.saturating_add(1);
                    continue;
                }
                other => {
                    f.edge.see(other, value);
                    continue;
                }
            };
            f.present |= 1 << bit;
        }
        f
    }

    fn connection(&mut self, value: &HeaderValue) {
        let v = value.as_bytes();
        // The common values, whole: no splitting.
        if v.eq_ignore_ascii_case(b"keep-alive") {
            self.keep_alive = true;
        } else if v.eq_ignore_ascii_case(b"close") {
            self.close = true;
        } else {
            self.names_fields = true;
            for token in value.to_str().into_iter().flat_map(|v| v.split(',')) {
                let token = token.trim();
                self.close |= token.eq_ignore_ascii_case("close");
                self.keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
    }

    /// The front door the request came through (a metrics label only).
    pub fn edge(&self) -> Edge {
        self.edge.edge()
    }

    /// How many `Host` fields (2 means two or more).
    pub fn hosts(&self) -> u8 {
        self.hosts.min(2)
    }

    /// Every `Host` field's value is a valid `host[:port]` (true when there is none).
    pub fn hosts_valid(&self) -> bool {
        self.hosts == 0 || self.hosts_valid
    }

    /// How many `Content-Length` fields (2 means two or more).
    pub fn content_lengths(&self) -> u8 {
        self.content_lengths.min(2)
    }

    pub fn has_transfer_encoding(&self) -> bool {
        self.present & TRANSFER_ENCODING_BIT != 0
    }

    /// An `Upgrade` field is present (whether `Connection` names it is `upgrade`'s call).
    pub fn has_upgrade(&self) -> bool {
        self.present & UPGRADE_BIT != 0
    }

    /// Whether the client connection stays open after this request (RFC 9112 §9.3):
    /// HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keeps_alive(&self, version: Version) -> bool {
        match version {
            Version::HTTP_11 => !self.close,
            Version::HTTP_10 => self.keep_alive,
            _ => false,
        }
    }

    /// Removes a request's hop-by-hop fields, `Trailer` included (nothing announces the
    /// trailers that are not forwarded). `headers` must be the map this was scanned from,
    /// less fields that are not hop-by-hop.
    pub fn remove_request_hop_by_hop(&self, headers: &mut HeaderMap) {
        self.remove(headers, REQUEST_HOPS);
    }

    /// [`remove_hop_by_hop`] with this walk of the response's fields.
    pub fn remove_response_hop_by_hop(&self, headers: &mut HeaderMap) {
        self.remove(headers, RESPONSE_HOPS);
    }

    /// Those named by `Connection`, then those of the fixed list that are present.
    fn remove(&self, headers: &mut HeaderMap, listed: u16) {
        let present = self.present & listed;
        if present == 0 {
            return;
        }
        if self.names_fields {
            // Collect first: the names borrow `headers`, which is then changed.
            let named: Vec<HeaderName> = headers
                .get_all(CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|n| {
                    !n.eq_ignore_ascii_case("keep-alive") && !n.eq_ignore_ascii_case("close")
                })
                .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
                .filter(|n| !NEVER_NAMED.contains(n))
                .collect();
            for name in named {
                headers.remove(name);
            }
        }
        for (i, hop) in HOP_BY_HOP.iter().enumerate() {
            if present & (1 << i) != 0 {
                headers.remove(hop);
            }
        }
    }
}

/// Removes the fields that describe one connection, not the message (RFC 9110 §7.6.1):
/// those named by `Connection`, then the fixed list (all but `Trailer`: a response's is
/// the app's business).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    Fields::scan(headers).remove_response_hop_by_hop(headers);
}

/// [`remove_hop_by_hop`] for a request, which also loses `Trailer`.
pub fn remove_request_hop_by_hop(headers: &mut HeaderMap) {
    Fields::scan(headers).remove_request_hop_by_hop(headers);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_list_and_its_bits_agree() {
        for (i, hop) in HOP_BY_HOP.iter().enumerate() {
            let f = Fields::scan(&map(&[(hop.as_str(), "x")]));
            assert_eq!(f.present, 1 << i, "{hop}");
        }
        assert_eq!(HOP_BY_HOP[6], UPGRADE);
        assert_eq!(HOP_BY_HOP[7], TRAILER);
    }

    #[test]
    fn hop_by_hop_fields_go_and_end_to_end_fields_stay() {
        let mut h = map(&[
            ("connection", "keep-alive, x-trace-hop"),
            ("x-trace-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ]);
        remove_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-forwarded-for", "x-forwarded-proto"]);
    }

    #[test]
    fn every_listed_field_goes_in_any_case_with_all_its_values_and_nothing_else() {
        let mut h = HeaderMap::new();
        // Each listed field, one twice; names are case-insensitive (parsed lower-case).
        for name in [
            "Keep-Alive",
            "Proxy-Connection",
            "HTTP2-Settings",
            "TE",
            "Transfer-Encoding",
            "Upgrade",
            "upgrade",
        ] {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("x"),
            );
        }
        h.insert("x-keep", HeaderValue::from_static("1"));
        h.insert("keep-alives", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["keep-alives", "x-keep"]);

        // A message without any is left as it was.
        let mut h = map(&[("host", "a")]);
        let before = h.clone();
        remove_hop_by_hop(&mut h);
        assert_eq!(h, before);

        // `Trailer` goes from requests only.
        let mut h = map(&[("trailer", "x-origin-verify")]);
        remove_hop_by_hop(&mut h);
        assert!(h.contains_key(TRAILER));
        remove_request_hop_by_hop(&mut h);
        assert!(h.is_empty());

        // `Connection: keep-alive` (or `close`, in any case) names nothing else.
        let mut h = map(&[
            ("connection", "Keep-Alive"),
            ("connection", "CLOSE"),
            ("keep", "1"),
        ]);
        remove_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["keep"]);

        // `Connection` alone names fields, in any of its values.
        let mut h = map(&[
            ("connection", "close"),
            ("connection", "X-A , x-b"),
            ("x-a", "1"),
            ("x-b", "1"),
            ("x-c", "1"),
        ]);
        remove_hop_by_hop(&mut h);
        let left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-c"]);
    }

    #[test]
    fn connection_never_removes_what_frames_or_routes_the_message() {
        for named in [
            "host",
            "content-length",
            "transfer-encoding",
            "Host, Content-Length",
        ] {
            let mut h = map(&[
                ("connection", named),
                ("host", "app.example.com"),
                ("content-length", "3"),
            ]);
            remove_request_hop_by_hop(&mut h);
            assert_eq!(h["host"], "app.example.com", "{named}");
            assert_eq!(h["content-length"], "3", "{named}");
        }
        // Transfer-Encoding still goes, as the hop-by-hop field it is (hyper re-frames).
        let mut h = map(&[
            ("connection", "transfer-encoding"),
            ("transfer-encoding", "chunked"),
        ]);
        remove_request_hop_by_hop(&mut h);
        assert!(h.is_empty());
    }

    #[test]
    fn keep_alive_follows_the_version_and_the_connection_field() {
        let keeps = |version, connection: &[&str]| {
            let pairs: Vec<_> = connection.iter().map(|c| ("connection", *c)).collect();
            Fields::scan(&map(&pairs)).keeps_alive(version)
        };
        assert!(keeps(Version::HTTP_11, &[]));
        assert!(keeps(Version::HTTP_11, &["Upgrade"]));
        assert!(!keeps(Version::HTTP_11, &["close"]));
        assert!(!keeps(Version::HTTP_11, &["CLOSE"]));
        assert!(!keeps(Version::HTTP_11, &["x-trace, Close"]));
        assert!(!keeps(Version::HTTP_11, &["keep-alive", " close "]));
        assert!(keeps(Version::HTTP_11, &["closed, x-close"]));
        assert!(!keeps(Version::HTTP_10, &[]));
        assert!(keeps(Version::HTTP_10, &["keep-alive"]));
        assert!(keeps(Version::HTTP_10, &["x, Keep-Alive"]));
        assert!(!keeps(Version::HTTP_2, &[]));
    }

    #[test]
    fn host_upgrade_and_edge_come_from_the_same_walk() {
        let f = Fields::scan(&map(&[
            ("host", "app"),
            ("upgrade", "websocket"),
            ("x-amz-cf-id", "abc=="),
        ]));
        assert!(f.hosts() == 1 && f.has_upgrade());
        assert_eq!(f.edge(), Edge::CloudFront);
        let f = Fields::scan(&map(&[("x-amzn-apigateway-api-id", "a1b2")]));
        assert!(f.hosts() == 0 && !f.has_upgrade());
        assert_eq!(f.edge(), Edge::ApiGateway);
        let f = Fields::scan(&map(&[
            ("host", "a"),
            ("host", "b"),
            ("host", "c"),
            ("content-length", "1"),
            ("content-length", "1"),
            ("transfer-encoding", "chunked"),
        ]));
        assert_eq!((f.hosts(), f.content_lengths()), (2, 2));
        assert!(f.has_transfer_encoding());
    }
}
