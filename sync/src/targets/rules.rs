//! Each target's own rule for the values it can hold exactly ([`ValueRule`]), beyond the
//! shared value rule. The rule a configuration enforces is the intersection of its
//! targets': a value outside any of them is written nowhere.

use super::ValueRule;

/// "The maximum length of the value is 200 bytes" (ByteMatchStatement.SearchString, AWS
/// WAF API Reference).
pub const WAF_SEARCH_STRING: ValueRule = ValueRule {
    says: "a WAF byte match holds at most 200 bytes (ByteMatchStatement.SearchString)",
    holds: |v| v.len() <= 200,
};

/// Stage variable values "must match [A-Za-z0-9-._~:/?#&=,]+" (Stage.variables, Amazon API
/// Gateway REST API Reference).
pub const STAGE_VARIABLE: ValueRule = ValueRule {
    says: "a REST stage variable holds only letters, digits and -._~:/?#&=,",
    holds: |v| {
        !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#&=,".contains(&b))
    },
};

/// A REST integration maps a literal as `'value'`: a `'` inside would end it early.
pub const QUOTED_LITERAL: ValueRule = ValueRule {
    says: "a REST integration's header literal is quoted with ' and cannot hold one",
    holds: |v| !v.contains('\''),
};

/// A mapping value that starts with `$` is an expression (`$request.header.x`,
/// `$context.requestId`, `$stageVariables.x`), not a static value ("Transforming API
/// requests and responses for HTTP APIs", API Gateway Developer Guide).
pub const HTTP_API_MAPPING: ValueRule = ValueRule {
    says: "an HTTP API mapping value starting with $ is read as an expression",
    holds: |v| !v.starts_with('$'),
};

/// "Maximum length of a custom header value: 1,783 characters" (Quotas on custom headers,
/// Amazon CloudFront Developer Guide).
pub const CLOUDFRONT_HEADER: ValueRule = ValueRule {
    says: "a CloudFront origin custom header value holds at most 1,783 characters",
    holds: |v| v.len() <= 1783,
};

/// An ALB `http-header` condition value: "The maximum size of each string is 128
/// characters … The comparison strings are case insensitive. The following wildcard
/// characters are supported: * (matches 0 or more characters) and ? (matches exactly 1
/// character)" (HttpHeaderConditionConfig, ELB API Reference). A value with a wildcard
/// would match more than itself; one over 128 cannot be written. (Case is ignored by the
/// ALB whatever the value: docs/sync.md says what that leaves of a value's strength.)
pub const ALB_HEADER_CONDITION: ValueRule = ValueRule {
    says: "an ALB http-header condition holds at most 128 characters, and reads * and ? as wildcards",
    holds: |v| v.len() <= 128 && !v.contains(['*', '?']),
};

pub const ALL: [ValueRule; 6] = [
    WAF_SEARCH_STRING,
    STAGE_VARIABLE,
    QUOTED_LITERAL,
    HTTP_API_MAPPING,
    CLOUDFRONT_HEADER,
    ALB_HEADER_CONDITION,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Secret;

    #[test]
    fn generated_values_fit_every_target() {
        for _ in 0..2000 {
            let s = Secret::generate().unwrap();
            for rule in ALL {
                assert!((rule.holds)(s.expose_str()), "{}", rule.says);
            }
        }
    }

    #[test]
    fn each_rule_refuses_what_its_target_cannot_hold() {
        // Each of these passes the shared rule (visible ASCII, no comma).
        for (rule, bad) in [
            (WAF_SEARCH_STRING, "a".repeat(201)),
            (STAGE_VARIABLE, "a+b".to_owned()),
            (STAGE_VARIABLE, "a'b".to_owned()),
            (QUOTED_LITERAL, "it's".to_owned()),
            (HTTP_API_MAPPING, "$context.requestId".to_owned()),
            (CLOUDFRONT_HEADER, "a".repeat(1784)),
            (ALB_HEADER_CONDITION, "a".repeat(129)),
            (ALB_HEADER_CONDITION, "abc*".to_owned()),
            (ALB_HEADER_CONDITION, "a?c".to_owned()),
        ] {
            assert!(Secret::new(bad.as_bytes()).is_ok(), "{bad}");
            assert!(!(rule.holds)(&bad), "{}: {bad}", rule.says);
        }
        assert!((STAGE_VARIABLE.holds)("a-b._~:/?#&=c"));
        assert!((WAF_SEARCH_STRING.holds)(&"a".repeat(200)));
    }
}
