//! Which front door sent a request, as far as the request shows it.
//!
//! Used only to label counts: accepted requests, so that an operator can see *which* edge
//! still sends an old value, and refused (or, in report mode, reported) ones, so that a
//! dashboard shows which door sends requests without the header. It is never trusted for
//! anything else: a client can forge these headers. An accepted request's edge is as good
//! as its value; a refused one's is a clue, which is all a dashboard needs.
//!
//! CloudFront adds `X-Amz-Cf-Id` to every origin request and names itself in `Via`
//! ("1.1 abc.cloudfront.net (CloudFront)"): "Headers that CloudFront adds", Amazon
//! CloudFront Developer Guide, "Add CloudFront request headers". API Gateway sends the API
//! id (`X-Amzn-Apigateway-Api-Id`) with requests for private APIs and where the integration
//! maps it (`integration.request.header.x-amzn-apigateway-api-id` = `context.apiId`);
//! otherwise its requests count as `other`.
//!
//! The strongest clue wins: API Gateway's id header, then CloudFront's. An edge-optimized
//! REST API is served through a CloudFront distribution of API Gateway's own, so its
//! requests reach the origin carrying CloudFront's `Via` and `X-Amz-Cf-Id` as well as the
//! API id; they are API Gateway's, and a refusal must name that door.

use http::{HeaderMap, HeaderValue};

/// A low-cardinality name for the front door (a metrics dimension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Edge {
    CloudFront,
    ApiGateway,
    Other,
}

impl Edge {
    pub const ALL: [Edge; 3] = [Self::CloudFront, Self::ApiGateway, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudFront => "cloudfront",
            Self::ApiGateway => "apigateway",
            Self::Other => "other",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// No allocation; one walk over the fields (the request path gets it from its own
    /// walk, `fields::Fields`).
    pub fn of(headers: &HeaderMap) -> Edge {
        let mut clues = Clues::default();
        for (name, value) in headers {
            clues.see(name.as_str(), value);
        }
        clues.edge()
    }
}

/// What the fields seen so far say of the edge.
#[derive(Debug, Default, Clone, Copy)]
pub struct Clues {
    cloudfront: bool,
    apigateway: bool,
    /// Only the first `Via` counts.
    via_seen: bool,
}

impl Clues {
    /// Takes note of one field (`name` lower-case, as `HeaderName` keeps it).
    pub fn see(&mut self, name: &str, value: &HeaderValue) {
        match name {
            "x-amz-cf-id" => self.cloudfront = true,
            "x-amzn-apigateway-api-id" => self.apigateway = true,
            "via" => self.via(value.as_bytes()),
            _ => {}
        }
    }

    /// [`Clues::see`] for a field as it came off the wire (`name` in any case): the
    /// HTTP/1.1 fast path's (`h1`).
    pub fn see_raw(&mut self, name: &[u8], value: &[u8]) {
        // Only three names matter; their lengths tell them apart before any comparison.
        match name.len() {
            11 if name.eq_ignore_ascii_case(b"x-amz-cf-id") => self.cloudfront = true,
            24 if name.eq_ignore_ascii_case(b"x-amzn-apigateway-api-id") => self.apigateway = true,
            3 if name.eq_ignore_ascii_case(b"via") => self.via(value),
            _ => {}
        }
    }

    fn via(&mut self, value: &[u8]) {
        if !self.via_seen {
            self.via_seen = true;
            self.cloudfront |= ends_with_ignore_case(value, b"(cloudfront)");
        }
    }

    pub fn edge(&self) -> Edge {
        if self.apigateway {
            Edge::ApiGateway
        } else if self.cloudfront {
            Edge::CloudFront
        } else {
            Edge::Other
        }
    }
}

fn ends_with_ignore_case(value: &[u8], suffix: &[u8]) -> bool {
    value.len() >= suffix.len() && value[value.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(pairs: &[(&'static str, &'static str)]) -> Edge {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        Edge::of(&h)
    }

    #[test]
    fn cloudfront_by_id_or_via() {
        assert_eq!(edge(&[("x-amz-cf-id", "abc==")]), Edge::CloudFront);
        assert_eq!(
            edge(&[("via", "1.1 d111.cloudfront.net (CloudFront)")]),
            Edge::CloudFront
        );
        assert_eq!(edge(&[("via", "1.1 cloudfront-like-proxy")]), Edge::Other);
    }

    #[test]
    fn apigateway_by_api_id_and_everything_else_is_other() {
        assert_eq!(
            edge(&[("x-amzn-apigateway-api-id", "a1b2c3")]),
            Edge::ApiGateway
        );
        assert_eq!(edge(&[("x-amzn-trace-id", "Root=1-2-3")]), Edge::Other);
        assert_eq!(edge(&[]), Edge::Other);
    }

    #[test]
    fn an_edge_optimized_rest_api_is_api_gateway_whatever_cloudfront_added() {
        // CloudFront's fields before and after the API id: the API id wins either way.
        let through_cloudfront = [
            ("via", "1.1 d111.cloudfront.net (CloudFront)"),
            ("x-amz-cf-id", "abc=="),
            ("x-amzn-apigateway-api-id", "a1b2c3"),
        ];
        assert_eq!(edge(&through_cloudfront), Edge::ApiGateway);
        let mut reversed = through_cloudfront;
        reversed.reverse();
        assert_eq!(edge(&reversed), Edge::ApiGateway);
    }

    #[test]
    fn raw_fields_in_any_case_tell_the_same_edge() {
        for pairs in [
            &[("X-Amz-Cf-Id", "abc==")][..],
            &[
                ("VIA", "1.1 d111.cloudfront.net (CloudFront)"),
                ("via", "1.1 x"),
            ],
            &[
                ("via", "1.1 x"),
                ("Via", "1.1 d111.cloudfront.net (CloudFront)"),
            ],
            &[("X-Amzn-ApiGateway-Api-Id", "a1"), ("x-amz-cf-id", "abc")],
            &[("x-amzn-trace-id", "Root=1")],
        ] {
            let mut raw = Clues::default();
            for (k, v) in pairs {
                raw.see_raw(k.as_bytes(), v.as_bytes());
            }
            let lower: Vec<(String, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), *v))
                .collect();
            let mut h = HeaderMap::new();
            for (k, v) in &lower {
                h.append(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            assert_eq!(raw.edge(), Edge::of(&h), "{pairs:?}");
        }
    }

    #[test]
    fn the_edge_names_are_the_contract_sync_reads() {
        let names: Vec<&str> = Edge::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(names, edgeguard_secret::metrics::EDGES);
        for (i, e) in Edge::ALL.iter().enumerate() {
            assert_eq!(e.index(), i, "{e:?}");
        }
    }
}
