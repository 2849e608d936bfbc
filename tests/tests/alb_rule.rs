//! An ALB listener rule's header condition as an acceptor, on the emulator: rotated and
//! pruned beside the rotation tests' targets with its path-pattern condition, actions and
//! priority untouched; the 5-value quota and the values an ALB cannot hold exactly refused
//! before anything is written.

use aws_sdk_elasticloadbalancingv2::types::Rule;
use edgeguard_tests::estate::{self, LoadBalancer};
use edgeguard_tests::world::{HEADER, SECRET, World};

const INITIAL: &str = "InitialValue-0123456789abcdefghijklmnopqrstu";

async fn rule(w: &World, arn: &str) -> Rule {
    estate::listener_rule(&w.sdk, arn).await
}

/// The rule's header values, path patterns and actions' target groups.
fn parts(r: &Rule) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut header = Vec::new();
    let mut paths = Vec::new();
    for c in r.conditions() {
        if let Some(h) = c.http_header_config() {
            header.extend(h.values().iter().cloned());
        }
        if let Some(p) = c.path_pattern_config() {
            paths.extend(p.values().iter().cloned());
        }
    }
    let actions = r
        .actions()
        .iter()
        .filter_map(|a| a.target_group_arn().map(str::to_owned))
        .collect();
    (header, paths, actions)
}

async fn with_rule(w: &World, paths: &[&str]) -> (LoadBalancer, String) {
    let lb = estate::load_balancer(&w.moto, "origin").await;
    let arn = estate::header_rule_with(&w.moto, &lb, "X-Origin-Verify", INITIAL, paths, 10).await;
    let mut config = std::fs::read_to_string(&w.config).unwrap();
    config.push_str(&format!("\n[[alb_rule]]\nrule_arn = \"{arn}\"\n"));
    std::fs::write(&w.config, config).unwrap();
    (lb, arn)
}

async fn current(w: &World) -> String {
    w.staged().await.current.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_rule_is_rotated_and_pruned_and_only_its_header_condition_changes() {
    let w = World::create(INITIAL).await;
    let (lb, arn) = with_rule(&w, &["/api/*"]).await;
    let before = rule(&w, &arn).await;

    let (code, out, err) = w.sync(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.contains(&format!("alb_rule {arn}")) && l.contains("current")),
        "{out}"
    );
    let (code, _, err) = w.sync(&["rotate", "--yes"]);
    assert_eq!(code, 0, "{err}");
    let new = current(&w).await;
    assert_ne!(new, INITIAL);
    let after = rule(&w, &arn).await;
    let (header, paths, actions) = parts(&after);
    assert_eq!(
        header,
        std::slice::from_ref(&new),
        "pruned to the new value alone"
    );
    assert_eq!(paths, ["/api/*"], "the path-pattern condition is untouched");
    assert_eq!(
        actions,
        std::slice::from_ref(&lb.target_group),
        "the actions are untouched"
    );
    assert_eq!(after.priority(), before.priority());
    let name = after
        .conditions()
        .iter()
        .find_map(|c| c.http_header_config().and_then(|h| h.http_header_name()))
        .unwrap();
    assert!(name.eq_ignore_ascii_case(HEADER));
    let (code, out, _) = w.sync(&["status"]);
    assert_eq!(code, 0, "{out}");
    w.assert_invariant("after the rotation").await;
    // No value in what the tool printed.
    assert!(!out.contains(&new) && !err.contains(&new) && !err.contains(INITIAL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_without_room_for_two_values_is_refused_before_anything_is_written() {
    let w = World::create(INITIAL).await;
    // Four path patterns and the header's one value: a widening to two makes six.
    let (_, arn) = with_rule(&w, &["/a", "/b", "/c", "/d"]).await;
    let (code, _, err) = w.sync(&["rotate", "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("its other conditions use 4") && err.contains(&arn),
        "{err}"
    );
    // Nothing written: no AWSPENDING, the rule and the other targets as they were.
    let versions = aws_sdk_secretsmanager::Client::new(&w.sdk)
        .list_secret_version_ids()
        .secret_id(SECRET)
        .send()
        .await
        .unwrap();
    assert!(
        versions
            .versions()
            .iter()
            .all(|v| !v.version_stages().iter().any(|s| s == "AWSPENDING")),
        "a pending version was created"
    );
    assert_eq!(parts(&rule(&w, &arn).await).0, [INITIAL.to_owned()]);
    let (code, out, _) = w.sync(&["status"]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_put_value_an_alb_cannot_hold_exactly_is_written_nowhere() {
    for (bad, why) in [
        (format!("{}*", &INITIAL[..40]), "wildcards"),
        ("x".repeat(129), "128 characters"),
    ] {
        let w = World::create(INITIAL).await;
        let (_, arn) = with_rule(&w, &[]).await;
        aws_sdk_secretsmanager::Client::new(&w.sdk)
            .put_secret_value()
            .secret_id(SECRET)
            .client_request_token("0f6a4a3e-5c1b-4c56-9d7e-1a2b3c4d5e6f")
            .secret_string(format!(r#"{{"header":"{HEADER}","value":"{bad}"}}"#))
            .version_stages("AWSPENDING")
            .send()
            .await
            .unwrap();
        let (code, _, err) = w.sync(&["rotate", "--yes"]);
        assert_eq!(code, 1, "{why}: {err}");
        assert!(
            err.contains(&format!("alb_rule {arn}")) && err.contains(why),
            "{err}"
        );
        assert!(!err.contains(&bad), "the value is never shown");
        assert_eq!(
            parts(&rule(&w, &arn).await).0,
            [INITIAL.to_owned()],
            "{why}"
        );
    }
}
