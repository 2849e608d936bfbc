//! edgeguard-sync against the emulator: drift of each kind, refusals that change nothing,
//! a CLI killed mid-rotation and resumed, rollback after `set`, and racing rotations.

use std::process::Stdio;
use std::time::Duration;

use edgeguard_tests::world::{HEADER, RULE, SECRET, TIMING, World, wait_child};
use edgeguard_tests::{poll, secret_like};

fn assert_no_values(outputs: &[&str], values: &[&str]) {
    for out in outputs {
        for v in values {
            assert!(!out.contains(v), "a secret value appeared in the output");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_a_hand_edited_waf_rule_and_a_stray_injector() {
    let v0 = secret_like('0');
    let w = World::create(&v0).await;
    assert_eq!(w.sync(&["status"]).0, 0);

    // An injector pointed at a random value.
    let stray = secret_like('s');
    let http = aws_sdk_apigatewayv2::Client::new(&w.sdk);
    http.update_integration()
        .api_id(&w.http_api_id)
        .integration_id(&w.integration_id)
        .request_parameters(format!("overwrite:header.{HEADER}"), &stray)
        .request_parameters("append:header.x-trace", "keep-me")
        .send()
        .await
        .unwrap();
    let (code, out, err) = w.sync(&["status"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("DRIFT") && out.contains("http_api"), "{out}");
    let (code, json, _) = w.sync(&["status", "--json"]);
    assert_eq!(code, 2);
    assert!(json.contains("\"unknown\""), "{json}");
    assert_no_values(&[&out, &err, &json], &[&v0, &stray]);
    // Put it back: clean again.
    http.update_integration()
        .api_id(&w.http_api_id)
        .integration_id(&w.integration_id)
        .request_parameters(format!("overwrite:header.{HEADER}"), &v0)
        .request_parameters("append:header.x-trace", "keep-me")
        .send()
        .await
        .unwrap();
    assert_eq!(w.sync(&["status"]).0, 0);

    // The WAF rule edited by hand (another value).
    w.edit_waf_rules(|rules| {
        let owned = rules.iter_mut().find(|r| r.name() == RULE).unwrap();
        let mut bm = owned
            .statement()
            .unwrap()
            .byte_match_statement()
            .unwrap()
            .clone();
        bm.search_string = aws_sdk_wafv2::primitives::Blob::new(stray.as_bytes());
        owned.statement = Some(
            aws_sdk_wafv2::types::Statement::builder()
                .byte_match_statement(bm)
                .build(),
        );
    })
    .await;
    let (code, out, err) = w.sync(&["status"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("no staged version"), "{out}");
    assert!(out.contains("does not accept the current value"), "{out}");
    assert_no_values(&[&out, &err], &[&v0, &stray]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_waf_rule_is_drift_and_rotate_refuses_without_changing_anything() {
    let v0 = secret_like('0');
    let w = World::create(&v0).await;
    w.edit_waf_rules(|rules| rules.retain(|r| r.name() != RULE))
        .await;
    let (code, out, _) = w.sync(&["status"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no rule named"), "{out}");
    let (code, _, err) = w.sync(&["rotate", "--yes"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused") && err.contains("no rule named"),
        "{err}"
    );
    assert_eq!(
        w.staged().await.pending,
        None,
        "a refused rotate creates no AWSPENDING"
    );
    assert!(w.injected().await.all_send(&v0));
}

/// A stale AWSPENDING (old, held by no target) is drift, refused by `rotate` and cleaned by
/// `rollback`: that path is covered by the unit tests of `edgeguard_sync::rotation` with a
/// fake store, because the emulator (moto 5.2) reports every version's `CreatedDate` in
/// `ListSecretVersionIds` as the time of the listing, so a version never ages there. Here:
/// a fresh AWSPENDING that no target holds counts as in progress, and `rollback` detaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_pending_held_by_no_target_is_in_progress_and_rollback_detaches_it() {
    let v0 = secret_like('0');
    let w = World::create(&v0).await;
    let sm = aws_sdk_secretsmanager::Client::new(&w.sdk);
    let orphan = secret_like('x');
    sm.put_secret_value()
        .secret_id(SECRET)
        .secret_string(format!(r#"{{"header":"{HEADER}","value":"{orphan}"}}"#))
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    let (code, out, err) = w.sync(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("a rotation is in progress"), "{out}");
    let (code, _, err) = w.sync(&["rollback"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(w.staged().await.pending, None);
    assert_eq!(w.sync(&["status"]).0, 0);
    w.assert_invariant("after rollback").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_after_set_returns_every_target_to_the_current_value() {
    let v0 = secret_like('0');
    let w = World::create(&v0).await;
    let token = "2c4f1a90-7b3e-4d2a-8f61-0a9b8c7d6e5f";
    assert_eq!(w.sync(&["step", "create", "--token", token]).0, 0);
    assert_eq!(w.sync(&["step", "set", "--token", token]).0, 0);
    let v1 = w.staged().await.pending.unwrap();
    assert!(w.injected().await.all_send(&v1));

    let (code, _, err) = w.sync(&["rollback"]);
    assert_eq!(code, 0, "{err}");
    assert!(w.injected().await.all_send(&v0));
    assert_eq!(w.waf().await.0, std::slice::from_ref(&v0));
    let staged = w.staged().await;
    assert_eq!(
        (staged.current.as_deref(), staged.pending),
        (Some(v0.as_str()), None)
    );
    w.assert_invariant("after rollback").await;
    assert_eq!(w.sync(&["status"]).0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_killed_after_each_step_resumes_with_the_same_value() {
    let v0 = secret_like('0');
    let w = World::create(&v0).await;

    // Killed after create (the step ran on its own): rotate resumes that version.
    let token = "9e8d7c6b-5a49-4382-a716-150f4e3d2c1b";
    assert_eq!(w.sync(&["step", "create", "--token", token]).0, 0);
    let v1 = w.staged().await.pending.unwrap();
    let (code, _, err) = w.sync(&["rotate", "--yes", "--skip-prune"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("resuming"), "{err}");
    assert_eq!(w.staged().await.current.as_deref(), Some(v1.as_str()));
    w.assert_invariant("after the resumed rotation").await;
    // Finished but not pruned: rotate completes the prune first.
    tokio::time::sleep(Duration::from_secs(2)).await; // the configured 2 s window is the subject
    let (code, _, err) = w.sync(&["rotate", "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not pruned"), "{err}");
    assert_eq!(w.staged().await.previous, None);
    assert_eq!(w.waf().await.0, std::slice::from_ref(&v1));

    // Killed (SIGKILL) while waiting for the acceptors to converge, after widening.
    w.set_timing("[timing]\nacceptor_settle = \"30s\"\ndual_accept_window = \"2s\"\ncloudfront_deploy_timeout = \"60s\"\n");
    let mut child = w.sync_spawn(&["rotate", "--yes", "--skip-prune"]);
    poll(
        Duration::from_secs(20),
        "the acceptors to be widened",
        || async { (w.waf().await.0.len() == 2).then_some(()) },
    )
    .await;
    child.kill().unwrap();
    wait_child(&mut child, Duration::from_secs(10)).await;
    let v2 = w
        .staged()
        .await
        .pending
        .clone()
        .expect("pending left by the killed run");
    w.assert_invariant("after the kill").await;
    assert_eq!(
        w.sync(&["status"]).0,
        0,
        "a rotation in progress is not drift"
    );

    w.set_timing(TIMING);
    let (code, _, err) = w.sync(&["rotate", "--yes", "--skip-prune"]);
    assert_eq!(code, 0, "{err}");
    let staged = w.staged().await;
    assert_eq!(
        staged.current.as_deref(),
        Some(v2.as_str()),
        "resumed with the same value"
    );
    assert_eq!(staged.previous.as_deref(), Some(v1.as_str()));
    w.assert_invariant("after resuming").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_rotations_leave_a_consistent_state() {
    let v0 = secret_like('0');
    let w = World::create(&v0).await;
    // Their output goes to files (a pipe nobody reads could fill and block them), to be
    // shown if both fail.
    let dir = tempfile::tempdir().unwrap();
    let spawn = |name: &str| {
        let log = std::fs::File::create(dir.path().join(name)).unwrap();
        w.sync_command(&["rotate", "--yes", "--skip-prune"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start edgeguard-sync")
    };
    let (mut a, mut b) = (spawn("a.err"), spawn("b.err"));
    let sa = wait_child(&mut a, Duration::from_secs(60)).await;
    let sb = wait_child(&mut b, Duration::from_secs(60)).await;
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    assert!(
        sa.success() || sb.success(),
        "at least one rotation completes:\n--- a ({sa}):\n{}\n--- b ({sb}):\n{}",
        read("a.err"),
        read("b.err")
    );
    // Whatever the interleaving: one new current, the old one previous, nothing pending
    // (or a pending the next run resumes), and the invariant holds.
    w.assert_invariant("after racing rotations").await;
    let (code, _, err) = w.sync(&["rotate", "--yes", "--skip-prune"]);
    assert_eq!(code, 0, "a later rotate resumes or starts cleanly: {err}");
    w.assert_invariant("after a later rotation").await;
    assert_eq!(w.sync(&["status"]).0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_describes_the_rotation_and_changes_nothing() {
    let v0 = secret_like('0');
    let w = World::create(&v0).await;
    let (code, out, err) = w.sync(&["plan"]);
    assert_eq!(code, 0, "{err}");
    for part in [
        "create",
        "waf REGIONAL",
        "rest_api",
        "http_api",
        "cloudfront",
        "finish",
        "prune",
    ] {
        assert!(out.contains(part), "{part} missing from the plan:\n{out}");
    }
    let staged = w.staged().await;
    assert_eq!((staged.pending, staged.previous), (None, None));
    assert_eq!(w.waf().await.0, std::slice::from_ref(&v0));
    assert_no_values(&[&out, &err], &[&v0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_problems_are_reported_at_once_with_exit_64() {
    let w = World::create(&secret_like('0')).await;
    std::fs::write(&w.config, "secret_id = \"\"\nsurprise = 1\n").unwrap();
    let (code, _, err) = w.sync(&["status"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("surprise"), "{err}");
    std::fs::write(&w.config, "[timing]\nacceptor_settle = \"x\"\n[[cloudfront]]\ndistribution_id = \"E\"\norigin_ids = []\n").unwrap();
    let (code, _, err) = w.sync(&["status"]);
    assert_eq!(code, 64);
    for key in [
        "secret_id",
        "timing.acceptor_settle",
        "cloudfront[0].origin_ids",
    ] {
        assert!(err.contains(key), "{key}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_step_runs_the_probes() {
    let w = World::create(&secret_like('0')).await;
    let upstream = edgeguard_tests::upstream::Upstream::start().await;
    let probes = format!(
        "{TIMING}\n[[probe]]\nurl = \"{}/healthz\"\nexpect = 200\n",
        upstream.url()
    );
    std::fs::write(&w.config, w.toml(&probes)).unwrap();
    let token = "5f0e4d3c-2b1a-4098-8776-655443322110";
    assert_eq!(w.sync(&["step", "test", "--token", token]).0, 0);
    assert_eq!(upstream.seen_at("/healthz").len(), 1);

    // A direct probe (no header, straight to the ALB) must be rejected; this one is not.
    let direct = format!(
        "{probes}\n[[probe]]\nurl = \"{}/\"\ndirect = true\n",
        upstream.url()
    );
    std::fs::write(&w.config, w.toml(&direct)).unwrap();
    let (code, _, err) = w.sync(&["step", "test", "--token", token]);
    assert_eq!(code, 1);
    assert!(err.contains("expected 403"), "{err}");
    assert!(
        upstream
            .seen_at("/")
            .iter()
            .all(|s| s.headers.get(HEADER).is_none())
    );
}
