//! `discover` and `init` on the emulator, with an estate as a live service has it: the
//! configured targets of the rotation tests, plus a distribution and a REST API nobody
//! listed, an HTTP API reaching the origin's load balancer through a VPC link, a listener
//! rule on the header, and a distribution and an HTTP API that point elsewhere. (A REST
//! integration through a VPC link, which moto cannot hold, is `discover::estate`'s test
//! on the SDK's doubles.)

use edgeguard_tests::estate;
use edgeguard_tests::world::{RULE, World};

const ORIGIN: &str = "https://alb.example.com";
const INITIAL: &str = "InitialValue-0123456789abcdefghijklmnopqrstu";
const RULE_VALUE: &str = "RuleValue-0123456789abcdefghijklmnopqrstuvw";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_door_is_found_and_init_writes_the_configuration_that_covers_them() {
    let w = World::create(INITIAL).await;
    let sdk = &w.sdk;
    // Unlisted doors to the origin.
    let preview = estate::distribution(sdk, "preview", "alb.example.com").await;
    let legacy = estate::rest_api(sdk, "legacy", "https://ALB.example.com/v1/", "live").await;
    let lb = estate::load_balancer(&w.moto, "origin").await;
    let (private_api, private_integration) = estate::http_api(sdk, "private", &lb.listener).await;
    let rule = estate::header_rule(&w.moto, &lb, "X-Origin-Verify", RULE_VALUE).await;
    // The web ACL of the rotation tests, now in front of the origin's load balancer.
    aws_sdk_wafv2::Client::new(sdk)
        .associate_web_acl()
        .web_acl_arn(waf_arn(&w).await)
        .resource_arn(&lb.arn)
        .send()
        .await
        .unwrap();
    // Doors elsewhere: never listed.
    let elsewhere = estate::distribution(sdk, "blog", "blog.example.net").await;
    let (partner, _) = estate::http_api(sdk, "partner", "https://partner.example.org").await;

    let lb_arg = ["--load-balancer", lb.arn.as_str()];
    let args = |extra: &[&'static str]| {
        let mut a: Vec<&str> = vec!["discover", "--origin", ORIGIN];
        a.extend(lb_arg);
        a.extend(extra);
        a
    };
    // With the rotation's configuration: the unlisted ones are named, exit 3.
    let (code, out, err) = w.sync(&args(&[]));
    assert_eq!(code, 3, "{out}{err}");
    for (id, state) in [
        (w.distribution_id.as_str(), "configured"),
        (w.rest_api_id.as_str(), "configured"),
        (w.http_api_id.as_str(), "configured"),
        (w.waf_id.as_str(), "configured"),
        (preview.as_str(), "NOT CONFIGURED"),
        (legacy.as_str(), "NOT CONFIGURED"),
        (private_api.as_str(), "NOT CONFIGURED"),
        (rule.as_str(), "NOT CONFIGURED"),
    ] {
        let line = out
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} not listed:\n{out}"));
        assert!(line.contains(&format!(": {state}")), "{id}: {line}");
    }
    assert!(out.contains(&private_integration), "{out}");
    assert!(out.contains("through a VPC link"), "{out}");
    for id in [&elsewhere, &partner] {
        assert!(!out.contains(id.as_str()), "{id} points elsewhere:\n{out}");
    }

    // --json: one document with every entry, its kind and whether it is configured.
    let (code, out, _) = w.sync(&args(&["--json"]));
    assert_eq!(code, 3);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let doors = doc["doors"].as_array().unwrap();
    assert_eq!(doors.len(), 8, "{doc:#}");
    assert_eq!(doc["not_configured"], 4);
    let kind_of = |id: &str| {
        let d = doors.iter().find(|d| d["id"] == id).unwrap();
        (
            d["kind"].as_str().unwrap().to_owned(),
            d["configured"].as_bool().unwrap(),
        )
    };
    assert_eq!(kind_of(&preview), ("cloudfront".into(), false));
    assert_eq!(kind_of(&legacy), ("rest_api".into(), false));
    assert_eq!(kind_of(&private_api), ("http_api".into(), false));
    assert_eq!(kind_of(&rule), ("alb_rule".into(), false));
    assert_eq!(kind_of(&w.waf_id), ("waf".into(), true));

    // init, without a configuration: one that covers everything, checked and rediscovered.
    let (code, toml, err) = w.sync_without_config(&[
        "init",
        "--origin",
        ORIGIN,
        "--load-balancer",
        &lb.arn,
        "--secret-id",
        "edgeguard/origin-verify",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(toml.contains(&format!("rule = \"{RULE}\"")), "{toml}");
    assert!(toml.contains("mode = \"stage_variable\""), "{toml}");
    assert!(toml.contains("mode = \"integration\""), "{toml}");
    assert!(toml.contains(&format!("rule_arn = \"{rule}\"")), "{toml}");
    // The private integration's listener is an origin too, or the rotation would leave
    // that integration without the header.
    let origins = format!("origins = [\"{ORIGIN}\", \"{}\"]", lb.listener);
    assert!(toml.contains(&origins), "{toml}");
    std::fs::write(&w.config, &toml).unwrap();
    let (code, out, err) = w.sync(&["check-config"]);
    assert_eq!(code, 0, "{out}{err}\n{toml}");
    // Every door is covered now, the listener rule included; the configuration's
    // origins are used when none is given.
    let (code, out, err) = w.sync(&["discover", "--load-balancer", &lb.arn]);
    assert_eq!(code, 0, "{out}{err}");

    // Names and ids only: no value anywhere in what they print.
    for text in [&toml, &out] {
        for value in [INITIAL, RULE_VALUE] {
            assert!(!text.contains(value), "a value in the output");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_origins_or_with_a_bad_one_it_is_a_usage_error() {
    let w = World::create(INITIAL).await;
    for args in [
        vec!["discover"],
        vec!["discover", "--origin", "ftp://x"],
        vec!["init", "--origin", ORIGIN, "--secret-id", " "],
        vec!["discover", "--origin", ORIGIN, "--header", "x_bad"],
    ] {
        let (code, _, err) = w.sync_without_config(&args);
        assert_eq!(code, 64, "{args:?}: {err}");
        assert!(err.contains("configuration error: --"), "{args:?}: {err}");
    }
    // The configuration's origins are used when none is given (none of the rotation
    // tests' configuration: it names none).
    let (code, _, err) = w.sync(&["discover"]);
    assert_eq!(code, 64, "{err}");
}

async fn waf_arn(w: &World) -> String {
    let out = aws_sdk_wafv2::Client::new(&w.sdk)
        .get_web_acl()
        .name(&w.waf_name)
        .id(&w.waf_id)
        .scope(aws_sdk_wafv2::types::Scope::Regional)
        .send()
        .await
        .unwrap();
    out.web_acl().unwrap().arn().to_owned()
}
