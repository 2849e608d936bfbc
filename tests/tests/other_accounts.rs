//! Targets in other accounts (the emulator keeps accounts apart: credentials from
//! `sts:AssumeRole` on `arn:aws:iam::222222222222:role/x` act in account 222222222222), and
//! the edge twin's ALB listener rule. A distribution that exists only in the second account
//! is switched through `role_arn`; a role that cannot be assumed stops the run before
//! anything is read or written; a rotation across a WAF-less ALB rule and that distribution
//! rejects no valid request.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::types as elb;
use edgeguard_tests::e2e::{self, Stage};
use edgeguard_tests::sts_denied::StsDenied;
use edgeguard_tests::world::{Acceptor, HEADER, Layout, OTHER_ACCOUNT_ROLE, SECRET, World};
use edgeguard_tests::{client, poll, secret_like};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const OTHER_ACCOUNT: &str = "222222222222";

/// The emulator's default account (moto's).
const OWN_ACCOUNT: &str = "123456789012";

fn other_account() -> Layout {
    Layout {
        alb_rule: false,
        cloudfront_role: Some(OTHER_ACCOUNT_ROLE),
    }
}

/// The distribution's header value, read in the account it lives in.
async fn distribution_sends(w: &World) -> Option<String> {
    w.injected().await.cloudfront
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distribution_in_another_account_is_switched_through_its_role() {
    let v0 = secret_like('0');
    let w = World::create_layout(&v0, edgeguard_tests::world::TIMING, other_account()).await;
    // It is not in the default account: only the role reaches it.
    let own = aws_sdk_cloudfront::Client::new(&w.sdk)
        .get_distribution_config()
        .id(&w.distribution_id)
        .send()
        .await;
    assert!(
        own.is_err(),
        "the distribution must exist only in the other account"
    );
    assert_eq!(distribution_sends(&w).await.as_deref(), Some(v0.as_str()));

    let (code, out, err) = w.sync(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.contains(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {out}"))
            .to_owned()
    };
    let cloudfront = line(&format!("cloudfront {}", w.distribution_id));
    assert!(
        cloudfront.contains(&format!("account {OTHER_ACCOUNT}, us-east-1")),
        "{cloudfront}"
    );
    let waf = line("waf REGIONAL");
    assert!(
        waf.contains(&format!("account {OWN_ACCOUNT}, us-east-1")),
        "{waf}"
    );
    assert!(!out.contains(&v0), "status printed a value");

    let (code, out, err) = w.sync(&["rotate", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let current = w.staged().await.current.unwrap();
    assert_ne!(current, v0);
    assert_eq!(
        distribution_sends(&w).await.as_deref(),
        Some(current.as_str())
    );
    w.assert_invariant("after the rotation").await;
}

/// STS refuses the role: the run stops with an error that names the role and the target,
/// and nothing changed anywhere (the secret's versions, the WAF rule, every injector, the
/// other account's distribution).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_cannot_be_assumed_stops_the_run_before_anything_changes() {
    let v0 = secret_like('0');
    let w = World::create_layout(&v0, edgeguard_tests::world::TIMING, other_account()).await;
    let sts = StsDenied::start().await;
    let versions = || async {
        aws_sdk_secretsmanager::Client::new(&w.sdk)
            .list_secret_version_ids()
            .secret_id(SECRET)
            .send()
            .await
            .unwrap()
            .versions()
            .len()
    };
    let before = (
        w.staged().await,
        w.waf().await,
        w.injected().await.all_send(&v0),
        versions().await,
    );
    for args in [&["rotate", "--yes"][..], &["status"], &["plan"]] {
        let mut command = w.sync_command(args);
        command.env("AWS_ENDPOINT_URL_STS", sts.url());
        let out = command.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("cannot assume role {OTHER_ACCOUNT_ROLE}"))
                && err.contains(&format!("cloudfront[0] {}", w.distribution_id))
                && err.contains("AccessDenied")
                && err.contains("nothing was read or written"),
            "{args:?}: {err}"
        );
    }
    assert!(
        sts.actions().iter().any(|a| a == "AssumeRole"),
        "the role was asked for: {:?}",
        sts.actions()
    );
    let after = (
        w.staged().await,
        w.waf().await,
        w.injected().await.all_send(&v0),
        versions().await,
    );
    assert_eq!(before.0, after.0, "the secret's stages");
    assert_eq!(before.1, after.1, "the WAF rule");
    assert!(after.2, "every injector still sends the first value");
    assert_eq!(before.3, after.3, "no secret version was made");
}

/// The edge twin checks an ALB rule as an ALB does: a value in another case passes, a
/// wildcard pattern passes what it matches, another value is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_twin_checks_an_alb_rule_as_an_alb_does() {
    let v0 = secret_like('0');
    let layout = Layout {
        alb_rule: true,
        cloudfront_role: None,
    };
    let world = Arc::new(World::create_layout(&v0, e2e::TIMING, layout).await);
    let Acceptor::AlbRule { arn } = world.acceptor.clone() else {
        unreachable!("an ALB rule layout");
    };
    let stage = Stage::start_in(world.clone(), None).await;
    let set_rule = |value: String| {
        let (sdk, arn) = (world.sdk.clone(), arn.clone());
        async move {
            let condition = elb::RuleCondition::builder()
                .field("http-header")
                .http_header_config(
                    elb::HttpHeaderConditionConfig::builder()
                        .http_header_name(HEADER)
                        .values(value)
                        .build(),
                )
                .build();
            aws_sdk_elasticloadbalancingv2::Client::new(&sdk)
                .modify_rule()
                .rule_arn(arn)
                .conditions(condition)
                .send()
                .await
                .unwrap();
        }
    };
    let status = || async {
        client::get(stage.edge.addr, "/cloudfront/x", &[])
            .await
            .status
    };
    let wait_for = |want: u16, what: &'static str| {
        poll(Duration::from_secs(30), what, move || async move {
            (status().await == want).then_some(())
        })
    };
    wait_for(200, "the first value to pass").await;
    set_rule(v0.to_uppercase()).await;
    // Another value entirely first, so that a pass below is the new pattern's doing.
    set_rule(secret_like('9')).await;
    wait_for(403, "another value to be refused").await;
    set_rule(v0.to_uppercase()).await;
    wait_for(200, "the value in another case to pass").await;
    set_rule(format!("{}*", &v0[..12])).await;
    wait_for(200, "a wildcard pattern to pass").await;
    set_rule(format!("{}?", v0)).await;
    wait_for(403, "a '?' that needs one more character to be refused").await;
}

/// Done when: a rotation across a WAF-less ALB rule and a CloudFront distribution in
/// another account, under load through the edge twin, fails no valid request; the rule's
/// other condition is untouched; each rotation is pruned to one value everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_across_an_alb_rule_and_another_accounts_distribution_fail_no_request() {
    let layout = Layout {
        alb_rule: true,
        cloudfront_role: Some(OTHER_ACCOUNT_ROLE),
    };
    let world = Arc::new(World::create_layout(&secret_like('0'), e2e::TIMING, layout).await);
    let mut stage = Stage::start_in(world.clone(), None).await;
    let zero = vec![[0.0; 3]; stage.proxies.len()];
    stage
        .wait_counted(e2e::CURRENT, &zero, "traffic before the rotations")
        .await;
    let mut values = vec![world.staged().await.current.unwrap()];
    for round in 1..=2 {
        let (code, out, err) = world.sync(&["rotate", "--yes"]);
        assert_eq!(code, 0, "rotation {round}: {out}{err}");
        world
            .assert_invariant(&format!("after rotation {round}"))
            .await;
        let current = world.staged().await.current.unwrap();
        assert_eq!(
            world.accepted().await.values,
            std::slice::from_ref(&current),
            "pruned to one value"
        );
        values.push(current);
        stage.wait_accepted_values(1).await;
    }
    let Acceptor::AlbRule { arn } = &world.acceptor else {
        unreachable!("an ALB rule layout");
    };
    let rule = edgeguard_tests::estate::listener_rule(&world.sdk, arn).await;
    let paths: Vec<String> = rule
        .conditions()
        .iter()
        .filter_map(|c| c.path_pattern_config())
        .flat_map(|p| p.values().to_vec())
        .collect();
    assert_eq!(paths, ["/*"], "the path condition is untouched");
    values.dedup();
    assert_eq!(values.len(), 3, "each rotation makes a new value");
    stage
        .finish(TMP, "rotations_across_an_alb_rule_and_another_account")
        .await;
}
