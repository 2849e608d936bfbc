//! The contract between the proxies' embedded metrics and sync's evidence gate: the proxy
//! writes what these names say, and sync's `GetMetricData` queries ask for exactly them.
//! Written once here so the two programs cannot drift apart (a renamed dimension on one
//! side would read as "no reports" forever, or worse, as "quiet").

/// The CloudWatch namespace both programs use unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "edgeguard";
/// Requests accepted, per version id (and per edge).
pub const ACCEPTED_METRIC: &str = "AcceptedRequests";
/// The Secrets Manager version id whose value accepted the request.
pub const VERSION_DIMENSION: &str = "VersionId";
/// Which front door sent it, by the request's own clues (the proxy's `edge` module).
pub const EDGE_DIMENSION: &str = "Edge";
/// Every value of [`EDGE_DIMENSION`], in the order reports list them.
pub const EDGES: [&str; 3] = ["cloudfront", "apigateway", "other"];
/// The [`VERSION_DIMENSION`] of a proxy whose values come from its environment or a
/// file: no Secrets Manager version, so its requests prove nothing about one.
pub const NOT_A_VERSION: [&str; 2] = ["env", "file"];

/// Why a namespace was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidNamespace {
    #[error("must be 1 to 255 characters")]
    Length,
    #[error("{0:?} is not allowed: letters, digits and . - _ / # : space")]
    Character(char),
    #[error("must not start with ':' (CloudWatch refuses it)")]
    Colon,
    #[error("namespaces starting with AWS/ are reserved for AWS")]
    Reserved,
}

/// The namespace rule: 1 to 255 of letters, digits and `.-_/#: `, not starting with `:`
/// (PutMetricData's `Namespace` pattern is `[^:].*`) nor `AWS/` (reserved for AWS:
/// "Namespaces", Amazon CloudWatch User Guide). The proxy refuses to write, and sync to
/// read, any other, so sync is never told to watch a namespace no proxy can fill.
pub fn namespace(s: &str) -> Result<&str, InvalidNamespace> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    if s.is_empty() || s.len() > 255 {
        Err(InvalidNamespace::Length)
    } else if let Some(c) = s.chars().find(|c| !allowed(*c)) {
        Err(InvalidNamespace::Character(c))
    } else if s.starts_with(':') {
        Err(InvalidNamespace::Colon)
    } else if s.starts_with("AWS/") {
        Err(InvalidNamespace::Reserved)
    } else {
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_rule() {
        for good in [
            DEFAULT_NAMESPACE,
            "team/edge-guard",
            "a:b",
            "x y#1",
            "AWSx/y",
        ] {
            assert_eq!(namespace(good), Ok(good));
        }
        assert_eq!(namespace(""), Err(InvalidNamespace::Length));
        assert_eq!(namespace(&"a".repeat(256)), Err(InvalidNamespace::Length));
        assert_eq!(namespace(":edge"), Err(InvalidNamespace::Colon));
        assert_eq!(namespace("AWS/ELB"), Err(InvalidNamespace::Reserved));
        assert_eq!(namespace("é"), Err(InvalidNamespace::Character('é')));
        assert_eq!(namespace("a\nb"), Err(InvalidNamespace::Character('\n')));
    }
}
