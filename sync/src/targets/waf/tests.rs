//! UpdateWebACL replaces the whole web ACL ("UpdateWebACL … replaces the existing
//! configuration with the one you provide", AWS WAF API reference): a field not given
//! back is reset. These tests compare the SDK's own field lists, so an SDK upgrade that
//! adds a field fails here until it is handled.

use aws_sdk_wafv2::types::*;

use super::*;
use crate::config::{WafScope, WafTarget};

/// Fields of `WebAcl` that UpdateWebACL does not take: AWS sets them.
const READ_ONLY: &[&str] = &[
    "arn",
    "capacity",
    "pre_process_firewall_manager_rule_groups",
    "post_process_firewall_manager_rule_groups",
    "managed_by_firewall_manager",
    "label_namespace",
    "retrofitted_by_firewall_manager",
];
/// Fields of the update that are no field of `WebAcl`.
const UPDATE_ONLY: &[&str] = &["scope", "lock_token"];

/// The top-level `field: value` pairs of a derived `Debug` output.
fn fields(debug: &str) -> Vec<(String, String)> {
    let inner = &debug[debug.find('{').unwrap() + 1..debug.rfind('}').unwrap()];
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    let mut parts = Vec::new();
    let bytes = inner.as_bytes();
    for (i, c) in bytes.iter().enumerate() {
        match c {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => quoted = !quoted,
            b'{' | b'[' | b'(' if !quoted => depth += 1,
            b'}' | b']' | b')' if !quoted => depth -= 1,
            b',' if !quoted && depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .iter()
        .filter_map(|p| p.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn names(debug: &str) -> Vec<String> {
    fields(debug).into_iter().map(|(k, _)| k).collect()
}

/// A web ACL with every mutable field set.
fn full_acl() -> WebAcl {
    let visibility = VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name("m")
        .build()
        .unwrap();
    WebAcl::builder()
        .name("edge-acl")
        .id("acl-1")
        .arn("arn:aws:wafv2:us-east-1:1:regional/webacl/edge-acl/acl-1")
        .default_action(
            DefaultAction::builder()
                .allow(AllowAction::builder().build())
                .build(),
        )
        .description("d")
        .rules(
            Rule::builder()
                .name("origin-verify")
                .priority(1)
                .statement(super::waf_statement::write(
                    &super::waf_statement::Shape::Plain,
                    "x-origin-verify",
                    &[Secret::generate().unwrap()],
                ))
                .visibility_config(visibility.clone())
                .build()
                .unwrap(),
        )
        .visibility_config(visibility)
        .data_protection_config(
            DataProtectionConfig::builder()
                .set_data_protections(Some(vec![]))
                .build()
                .unwrap(),
        )
        .custom_response_bodies(
            "blocked",
            CustomResponseBody::builder()
                .content_type(ResponseContentType::TextPlain)
                .content("no")
                .build()
                .unwrap(),
        )
        .captcha_config(CaptchaConfig::builder().build())
        .challenge_config(ChallengeConfig::builder().build())
        .token_domains("example.com")
        .association_config(AssociationConfig::builder().build())
        .on_source_d_do_s_protection_config(
            OnSourceDDoSProtectionConfig::builder()
                .alb_low_reputation_mode(LowReputationMode::ActiveUnderDdos)
                .build()
                .unwrap(),
        )
        .application_config(ApplicationConfig::builder().build())
        .monetization_config(MonetizationConfig::builder().build())
        .build()
        .unwrap()
}

fn acceptor() -> WafAcceptor {
    let config = aws_sdk_wafv2::Config::builder()
        .behavior_version(aws_sdk_wafv2::config::BehaviorVersion::latest())
        .region(aws_sdk_wafv2::config::Region::new("us-east-1"))
        .build();
    let target = WafTarget {
        role_arn: None,
        external_id: None,
        region: None,
        scope: WafScope::Regional,
        name: "edge-acl".into(),
        id: "acl-1".into(),
        rule: "origin-verify".into(),
    };
    WafAcceptor::new(Client::from_conf(config), target, "x-origin-verify")
}

#[test]
fn every_web_acl_field_is_given_back() {
    let acl = full_acl();
    let update = acceptor().update(&acl, acl.rules().to_vec(), "lock".into());
    let input = format!("{:?}", update.as_input());
    let acl_fields = names(&format!("{acl:?}"));
    let input_fields = fields(&input);
    assert!(
        acl_fields.len() > 15 && input_fields.len() > 10,
        "{acl_fields:?}"
    );
    for name in &acl_fields {
        if READ_ONLY.contains(&name.as_str()) {
            continue;
        }
        let (_, value) = input_fields
            .iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("WebAcl.{name} has no counterpart in UpdateWebACL: is it read-only? (add it to READ_ONLY) or new?"));
        assert_ne!(
            value, "None",
            "WebAcl.{name} is not given back to UpdateWebACL"
        );
    }
    for (name, _) in &input_fields {
        assert!(
            acl_fields.contains(name) || UPDATE_ONLY.contains(&name.as_str()),
            "UpdateWebACL takes {name}, which WebAcl does not have: what should it be?"
        );
    }
}

#[test]
fn the_debug_field_reader_reads_top_level_fields_only() {
    let f = fields(r#"X { a: Some(Y { b: None, c: [1, 2] }), d: "x, y: z", e: None }"#);
    let keys: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "d", "e"]);
    assert_eq!(f[2].1, "None");
}
