use super::*;

const FULL: &str = r#"
secret_id = "edgeguard/origin-verify"
header = "x-origin-verify"
[timing]
acceptor_settle = "90s"
dual_accept_window = "15m"
cloudfront_deploy_timeout = "25m"
[[waf]]
scope = "REGIONAL"
name = "edge-acl"
id = "abc"
rule = "origin-verify"
[[alb_rule]]
rule_arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener-rule/app/origin/1/2/3"
[[rest_api]]
api_id = "r1"
stages = ["prod"]
mode = "stage_variable"
variable = "originVerify"
[[http_api]]
api_id = "h1"
integration_ids = []
stage = "$default"
[[cloudfront]]
distribution_id = "E1"
origin_ids = ["alb"]
[[probe]]
url = "https://api.example.com/healthz"
expect = 200
[[probe]]
url = "https://my-alb.example.com/"
direct = true
"#;

#[test]
fn the_documented_example_parses() {
    let c = Config::from_toml(FULL).unwrap();
    assert_eq!(c.secret_id, "edgeguard/origin-verify");
    assert_eq!(c.timing.acceptor_settle, Duration::from_secs(90));
    assert_eq!(c.waf[0].scope, WafScope::Regional);
    assert_eq!(c.alb_rule[0].arn_region(), Some("eu-west-1"));
    assert_eq!(c.rest_api[0].mode, RestApiMode::StageVariable);
    assert_eq!(c.http_api[0].stage, "$default");
    assert!(c.probe[1].direct);
}

#[test]
fn the_evidence_section_has_defaults_and_checked_durations() {
    assert_eq!(Config::from_toml(FULL).unwrap().evidence, None);
    let c = Config::from_toml(&format!("{FULL}\n[evidence]\n")).unwrap();
    let e = c.evidence.unwrap();
    assert_eq!(
        e,
        Evidence {
            sources: vec![EvidenceSource {
                role_arn: None,
                external_id: None,
                namespace: "edgeguard".into(),
                region: None,
                account: None,
            }],
            quiet_period: Duration::from_secs(600),
            timeout: Duration::from_secs(7200),
            emf_interval: Duration::from_secs(60),
            ingestion_margin: Duration::from_secs(300),
        }
    );
    // What follows from the EMF interval and the margin.
    assert_eq!(e.blind(), Duration::from_secs(360));
    assert_eq!(e.beat(), Duration::from_secs(60));
    assert_eq!(e.min_quiet_period(), Duration::from_secs(120));
    assert_eq!(e.fresh_span(), Duration::from_secs(300));
    let e = Config::from_toml(&format!(
        "{FULL}\n[evidence]\nquiet_period = \"30s\"\ntimeout = \"soon\"\nwindow = \"1m\"\nemf_interval = \"0s\"\n"
    ))
    .unwrap_err();
    for key in [
        "evidence.quiet_period:",
        "evidence.timeout:",
        "evidence.window: unknown",
        "evidence.emf_interval:",
    ] {
        assert!(e.0.iter().any(|m| m.starts_with(key)), "{key} missing: {e}");
    }
}

#[test]
fn evidence_durations_are_bounded_so_their_sums_cannot_overflow() {
    let e = Config::from_toml(&format!(
        "{FULL}\n[evidence]\nquiet_period = \"10000000000d\"\nemf_interval = \"2h\"\ningestion_margin = \"99999999999999d\"\ntimeout = \"30d\"\n"
    ))
    .unwrap_err();
    for key in [
        "evidence.quiet_period: \"10000000000d\" is longer than 1day",
        "evidence.emf_interval: \"2h\" is longer than 1h",
        "evidence.ingestion_margin:",
        "evidence.timeout: \"30d\" is longer than 7days",
    ] {
        assert!(e.0.iter().any(|m| m.starts_with(key)), "{key} missing: {e}");
    }
}

#[test]
fn a_quiet_period_too_short_to_prove_anything_is_refused_and_says_why() {
    // A 3-minute EMF interval: every proxy writes once per 3m, so 2m proves nothing.
    let e = Config::from_toml(&format!(
        "{FULL}\n[evidence]\nemf_interval = \"3m\"\nquiet_period = \"5m\"\n"
    ))
    .unwrap_err();
    let m =
        e.0.iter()
            .find(|m| m.starts_with("evidence.quiet_period:"))
            .unwrap();
    assert!(m.contains("too short to prove anything"), "{m}");
    assert!(m.contains("at least 6m"), "{m}");
    assert!(m.contains("emf_interval (3m)"), "{m}");
    let c = Config::from_toml(&format!(
        "{FULL}\n[evidence]\nemf_interval = \"3m\"\nquiet_period = \"6m\"\ningestion_margin = \"0s\"\n"
    ))
    .unwrap();
    let e = c.evidence.unwrap();
    assert_eq!(e.blind(), Duration::from_secs(180));
    assert_eq!(
        e.fresh_span(),
        Duration::from_secs(360),
        "at most the quiet period"
    );
}

#[test]
fn evidence_sources_regions_accounts_and_the_shared_namespace_rule() {
    let c = Config::from_toml(&format!(
        "{FULL}\n[evidence]\nquiet_period = \"10m\"\n[[evidence.source]]\nnamespace = \"edgeguard/prod\"\nregion = \"eu-west-1\"\n[[evidence.source]]\nnamespace = \"edgeguard/prod\"\nregion = \"us-gov-west-1\"\naccount = \"111122223333\"\n"
    ))
    .unwrap();
    let sources = c.evidence.unwrap().sources;
    assert_eq!(sources.len(), 2);
    assert_eq!(sources[1].region.as_deref(), Some("us-gov-west-1"));
    assert_eq!(sources[1].account.as_deref(), Some("111122223333"));
    let e = Config::from_toml(&format!(
        "{FULL}\n[evidence]\nnamespace = \"x\"\n[[evidence.source]]\nnamespace = \"AWS/ApiGateway\"\nregion = \"Ireland\"\naccount = \"12\"\nzone = \"a\"\n[[evidence.source]]\nnamespace = \":edge\"\n"
    ))
    .unwrap_err();
    for key in [
        "evidence.source: give either",
        "evidence.source[0].namespace: \"AWS/ApiGateway\": namespaces starting with AWS/ are reserved",
        "evidence.source[0].region:",
        "evidence.source[0].account:",
        "evidence.source[0].zone: unknown key",
        "evidence.source[1].namespace: \":edge\": must not start with ':'",
    ] {
        assert!(e.0.iter().any(|m| m.starts_with(key)), "{key} missing: {e}");
    }
}

#[test]
fn origins_are_hosts_or_listener_arns_and_the_secret_region_comes_from_its_arn() {
    let c = Config::from_toml(&format!(
        "origins = [\"https://Origin.Example.com/\", \"arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/a/1/2\"]\n{FULL}"
    ))
    .unwrap();
    assert_eq!(
        c.origins,
        [
            "origin.example.com",
            "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/a/1/2"
        ]
    );
    assert_eq!(c.secret_region(), None, "a name, not an ARN");
    let e = Config::from_toml(&format!("origins = [\"origin.example.com\"]\n{FULL}")).unwrap_err();
    assert!(e.0[0].starts_with("origins[0]:"), "{e}");
    let c = Config::from_toml(&FULL.replace(
        "secret_id = \"edgeguard/origin-verify\"",
        "secret_id = \"arn:aws:secretsmanager:eu-central-1:111122223333:secret:edgeguard/origin-verify-AbCdEf\"",
    ))
    .unwrap();
    assert_eq!(c.secret_region(), Some("eu-central-1"));
}

#[test]
fn every_unknown_key_is_named_with_the_other_problems() {
    let text = FULL
        .replace("rule = ", "rules = ")
        .replace("origin_ids = ", "origins = ")
        + "\nsurprise = 1\n";
    let e = Config::from_toml(&text).unwrap_err();
    for key in [
        "probe[1].surprise: unknown",
        "waf[0].rules: unknown",
        "cloudfront[0].origins: unknown",
    ] {
        assert!(e.0.iter().any(|m| m.starts_with(key)), "{key} missing: {e}");
    }
}

#[test]
fn a_listener_rule_is_named_by_its_arn() {
    for bad in [
        "",
        "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/origin/1/2",
        "arn:aws:elasticloadbalancing::1:listener-rule/app/origin/1/2/3",
        "rule-123",
    ] {
        let text = FULL.replace(
            "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener-rule/app/origin/1/2/3",
            bad,
        );
        let e = Config::from_toml(&text).unwrap_err();
        assert!(
            e.0.iter().any(|m| m.starts_with("alb_rule[0].rule_arn:")),
            "{bad:?}: {e}"
        );
    }
    let e = Config::from_toml(&FULL.replace("rule_arn =", "rule_id =")).unwrap_err();
    assert!(
        e.to_string().contains("alb_rule[0].rule_id: unknown key"),
        "{e}"
    );
}

#[test]
fn unknown_keys_are_named() {
    let e = Config::from_toml(&format!("{FULL}\nsurprise = 1\n")).unwrap_err();
    assert!(e.to_string().contains("surprise"), "{e}");
    let e = Config::from_toml(&FULL.replace("rule = ", "rules = ")).unwrap_err();
    assert!(e.to_string().contains("rules"), "{e}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = r#"
header = "bad header"
[timing]
acceptor_settle = "soon"
[[rest_api]]
api_id = "r1"
stages = []
mode = "stage_variable"
[[cloudfront]]
distribution_id = "E1"
origin_ids = []
[[probe]]
url = "ftp://x"
"#;
    let e = Config::from_toml(text).unwrap_err();
    let keys = [
        "secret_id",
        "timing.acceptor_settle",
        "header",
        "rest_api[0].stages",
        "rest_api[0].variable",
        "cloudfront[0].origin_ids",
        "probe[0].url",
    ];
    for key in keys {
        assert!(e.0.iter().any(|m| m.starts_with(key)), "{key} missing: {e}");
    }
    assert_eq!(e.0.len(), keys.len(), "{e}");
}

#[test]
fn json_works_for_the_lambda() {
    let c = Config::from_json(
        r#"{"secret_id":"s","waf":[{"scope":"CLOUDFRONT","name":"n","id":"i","rule":"r"}]}"#,
    )
    .unwrap();
    assert_eq!(c.waf[0].scope, WafScope::CloudFront);
    assert_eq!(c.header, "x-origin-verify");
}

#[test]
fn the_header_rule_is_the_proxies_and_selections_belong_to_integration_mode() {
    let e = Config::from_toml(&FULL.replace(
        "header = \"x-origin-verify\"",
        "header = \"x_origin_verify\"",
    ))
    .unwrap_err();
    assert!(
        e.0.iter()
            .any(|m| m.starts_with("header:") && m.contains("ALB")),
        "{e}"
    );
    let c = Config::from_toml(&FULL.replace(
        "header = \"x-origin-verify\"",
        "header = \"X-Origin-Verify\"",
    ))
    .unwrap();
    assert_eq!(c.header, "x-origin-verify");
    let e = Config::from_toml(&FULL.replace(
        "variable = \"originVerify\"",
        "variable = \"originVerify\"\nresources = [\"/{proxy+}\"]",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("rest_api[0].resources"), "{e}");
    let c = Config::from_toml(&FULL.replace(
        "mode = \"stage_variable\"\nvariable = \"originVerify\"",
        "mode = \"integration\"\nresources = [\"/{proxy+}\"]\nuri_prefix = \"https://alb.example.com/\"",
    ))
    .unwrap();
    assert_eq!(c.rest_api[0].resources, ["/{proxy+}"]);
    let e = Config::from_toml(&FULL.replace("direct = true", "expect_accepted = 200")).unwrap_err();
    assert!(e.to_string().contains("probe[1].expect_accepted"), "{e}");
}

/// Every target table takes `role_arn`, `external_id` and `region` (where the service has
/// regions); each problem is named by its key, all at once.
#[test]
fn targets_in_other_accounts_and_regions() {
    let doc = r#"
secret_id = "edgeguard/origin-verify"
[[waf]]
scope = "REGIONAL"
name = "edge-acl"
id = "abc"
rule = "origin-verify"
role_arn = "arn:aws:iam::222222222222:role/edgeguard-rotation"
external_id = "edgeguard-partner-7"
region = "eu-west-1"
[[alb_rule]]
rule_arn = "arn:aws:elasticloadbalancing:eu-west-1:222222222222:listener-rule/app/origin/1/2/3"
role_arn = "arn:aws:iam::222222222222:role/edgeguard-rotation"
[[rest_api]]
api_id = "r1"
stages = ["prod"]
mode = "stage_variable"
variable = "originVerify"
region = "eu-central-1"
[[http_api]]
api_id = "h1"
region = "ap-southeast-2"
[[cloudfront]]
distribution_id = "E1"
origin_ids = ["alb"]
role_arn = "arn:aws:iam::333333333333:role/edge"
[evidence]
role_arn = "arn:aws:iam::222222222222:role/edgeguard-metrics"
region = "eu-west-1"
"#;
    let c = Config::from_toml(doc).unwrap();
    assert_eq!(c.waf[0].home().account(), Some("222222222222"));
    assert_eq!(
        c.waf[0].home().external_id.as_deref(),
        Some("edgeguard-partner-7")
    );
    assert_eq!(c.waf[0].home().region.as_deref(), Some("eu-west-1"));
    assert_eq!(c.alb_rule[0].home().region, None);
    assert_eq!(c.rest_api[0].home().region.as_deref(), Some("eu-central-1"));
    assert_eq!(c.http_api[0].home().role_arn, None);
    assert_eq!(c.cloudfront[0].home().account(), Some("333333333333"));
    let source = &c.evidence.unwrap().sources[0];
    assert_eq!(source.home().account(), Some("222222222222"));

    let bad = r#"
secret_id = "s"
[[waf]]
scope = "CLOUDFRONT"
name = "edge-acl"
id = "abc"
rule = "origin-verify"
region = "eu-west-1"
[[alb_rule]]
rule_arn = "arn:aws:elasticloadbalancing:eu-west-1:111111111111:listener-rule/app/origin/1/2/3"
role_arn = "arn:aws:iam::222222222222:role/x"
region = "eu-west-2"
[[rest_api]]
api_id = "r1"
stages = ["prod"]
mode = "stage_variable"
variable = "v"
external_id = "lonely"
[[http_api]]
api_id = "h1"
role_arn = "arn:aws:iam::2222:role/x"
[[cloudfront]]
distribution_id = "E1"
origin_ids = ["alb"]
region = "eu-west-1"
[[evidence.source]]
external_id = "x y"
role_arn = "arn:aws:iam::222222222222:role/m"
"#;
    let errors = Config::from_toml(bad).unwrap_err().0;
    let keys: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "evidence.source[0].external_id",
            "waf[0].region",
            "alb_rule[0].region",
            "alb_rule[0].role_arn",
            "http_api[0].role_arn",
            "rest_api[0].external_id",
            "cloudfront[0].region",
        ],
        "{errors:#?}"
    );
    assert!(!errors.iter().any(|e| e.contains("x y")), "{errors:#?}");
}

#[test]
fn the_roles_to_assume_are_listed_once() {
    let doc = r#"
secret_id = "s"
[[cloudfront]]
distribution_id = "E1"
origin_ids = ["alb"]
role_arn = "arn:aws:iam::333333333333:role/edge"
[[cloudfront]]
distribution_id = "E2"
origin_ids = ["alb"]
role_arn = "arn:aws:iam::333333333333:role/edge"
[[http_api]]
api_id = "h1"
[evidence]
role_arn = "arn:aws:iam::222222222222:role/metrics"
"#;
    let c = Config::from_toml(doc).unwrap();
    assert_eq!(
        c.roles(),
        [
            "arn:aws:iam::222222222222:role/metrics",
            "arn:aws:iam::333333333333:role/edge"
        ]
    );
}
