use std::time::Duration;

use super::fake::{World, paused_clock};
use super::*;
use crate::config::Timing;

const TIMING: Timing = Timing {
    acceptor_settle: Duration::from_secs(90),
    dual_accept_window: Duration::from_secs(900),
    cloudfront_deploy_timeout: Duration::from_secs(1500),
};

fn rotation(world: &World, acceptors: usize, injectors: usize) -> Rotation {
    let mut r = Rotation::new("fake", Box::new(world.clone()), TIMING).with_clock(paused_clock());
    for i in 0..acceptors {
        r = r.with_acceptor(world.acceptor(i));
    }
    for i in 0..injectors {
        r = r.with_injector(world.injector(i));
    }
    r
}

#[tokio::test(start_paused = true)]
async fn a_full_rotation_never_breaks_the_invariant() {
    let (world, v0) = World::new(2, 3);
    let r = rotation(&world, 2, 3);
    r.rotate(false).await.unwrap();
    world.assert_no_violations();
    let s = world.state();
    let v1 = s.stage("AWSCURRENT").unwrap();
    assert_ne!(v1, v0);
    assert_eq!(s.stage("AWSPENDING"), None);
    assert_eq!(s.stage("AWSPREVIOUS"), None, "pruned");
    assert!(s.accepted.iter().all(|a| a == &vec![v1.clone()]));
    assert!(s.sent.iter().all(|v| v == &v1));
}

#[tokio::test(start_paused = true)]
async fn three_rotations_in_a_row_with_and_without_prune() {
    let (world, _) = World::new(1, 2);
    let r = rotation(&world, 1, 2);
    r.rotate(true).await.unwrap();
    r.rotate(false).await.unwrap(); // prunes the first
    r.rotate(true).await.unwrap();
    r.rotate(false).await.unwrap();
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn a_failed_switch_leaves_the_invariant_and_set_again_completes() {
    let (world, _) = World::new(1, 2);
    let r = rotation(&world, 1, 2);
    let token = "t-1";
    r.create(token).await.unwrap();
    world.state().failing_sends = 1;
    let err = r.set(token).await.unwrap_err();
    assert!(err.is_retryable());
    world.assert_no_violations();
    r.set(token).await.unwrap();
    r.finish(token).await.unwrap();
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn finish_before_set_and_prune_with_an_old_injector_are_refused() {
    let (world, v0) = World::new(1, 1);
    let r = rotation(&world, 1, 1);
    r.create("t-1").await.unwrap();
    assert!(matches!(r.finish("t-1").await, Err(SyncError::Refused(_))));
    r.set("t-1").await.unwrap();
    r.finish("t-1").await.unwrap();
    // An injector put back on the previous value by hand: prune must refuse, even forced.
    world.state().sent[0] = v0.clone();
    for force in [false, true] {
        let err = r.prune(force).await.unwrap_err();
        assert!(err.to_string().contains("not the current value"), "{err}");
    }
    assert_eq!(world.state().stage("AWSPREVIOUS"), Some(v0));
}

#[tokio::test(start_paused = true)]
async fn prune_waits_for_the_window_unless_forced() {
    let (world, _) = World::new(1, 1);
    let r = rotation(&world, 1, 1);
    r.rotate(true).await.unwrap();
    let err = r.prune(false).await.unwrap_err();
    assert!(err.to_string().contains("window"), "{err}");
    r.prune(true).await.unwrap();
    assert_eq!(world.state().stage("AWSPREVIOUS"), None);
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn a_stale_pending_is_refused_by_rotate_reported_by_status_and_rolled_back() {
    let (world, v0) = World::new(1, 1);
    let r = rotation(&world, 1, 1);
    r.create("orphan").await.unwrap();
    // Older than settle + CloudFront timeout, and held by no target: stale.
    world.age("AWSPENDING", Duration::from_secs(3 * 3600));
    assert!(matches!(r.start().await, Err(SyncError::Refused(m)) if m.contains("stale")));
    let report = crate::status::status(&r).await.unwrap();
    assert!(
        report.drift.iter().any(|d| d.contains("stale")),
        "{:?}",
        report.drift
    );
    r.rollback().await.unwrap();
    assert_eq!(world.state().stage("AWSPENDING"), None);
    assert_eq!(world.state().stage("AWSCURRENT"), Some(v0));
    assert!(crate::status::status(&r).await.unwrap().drift.is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_old_pending_that_a_target_holds_is_in_progress_and_resumed() {
    let (world, _) = World::new(1, 1);
    let r = rotation(&world, 1, 1);
    r.create("t-1").await.unwrap();
    r.set("t-1").await.unwrap();
    world.age("AWSPENDING", Duration::from_secs(3 * 3600));
    assert_eq!(r.start().await.unwrap(), Start::Resume("t-1".into()));
    r.rotate(true).await.unwrap();
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn rollback_after_set_restores_the_current_value_in_order() {
    let (world, v0) = World::new(2, 2);
    let r = rotation(&world, 2, 2);
    r.create("t-1").await.unwrap();
    r.set("t-1").await.unwrap();
    r.rollback().await.unwrap();
    world.assert_no_violations();
    let s = world.state();
    assert!(s.sent.iter().all(|v| v == &v0));
    assert!(s.accepted.iter().all(|a| a == &vec![v0.clone()]));
    assert_eq!(s.stage("AWSPENDING"), None);
}

#[tokio::test(start_paused = true)]
async fn create_is_idempotent_per_token_and_refuses_a_second_rotation() {
    let (world, _) = World::new(1, 1);
    let r = rotation(&world, 1, 1);
    r.create("t-1").await.unwrap();
    let first = world.state().stage("AWSPENDING");
    r.create("t-1").await.unwrap();
    assert_eq!(world.state().stage("AWSPENDING"), first);
    assert!(matches!(r.create("t-2").await, Err(SyncError::Refused(_))));
}

#[test]
fn tokens_are_uuid_v4() {
    let t = new_token().unwrap();
    assert_eq!(t.len(), 36);
    assert_eq!(&t[14..15], "4");
    assert_ne!(t, new_token().unwrap());
}

#[tokio::test(start_paused = true)]
async fn finish_and_prune_wait_for_a_deployment_in_progress() {
    let (world, _) = World::new(1, 1);
    let r = rotation(&world, 1, 1);
    r.create("t-1").await.unwrap();
    r.set("t-1").await.unwrap();
    // CloudFront reports the new header but is still deploying: some edges send the old one.
    world.state().unsettled = true;
    let err = r.finish("t-1").await.unwrap_err();
    assert!(err.to_string().contains("still deploying"), "{err}");
    world.state().unsettled = false;
    r.finish("t-1").await.unwrap();
    world.state().unsettled = true;
    let err = r.prune(true).await.unwrap_err();
    assert!(err.to_string().contains("still deploying"), "{err}");
    world.state().unsettled = false;
    r.prune(true).await.unwrap();
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn a_version_registered_without_a_value_gets_one_from_create() {
    let (world, _) = World::new(1, 1);
    let r = rotation(&world, 1, 1);
    world.register_pending("sm-token");
    // Before create, the value-less AWSPENDING is not a staged value.
    assert!(r.staged().await.unwrap().pending.is_none());
    r.create("sm-token").await.unwrap();
    let v1 = world.state().stage("AWSPENDING").expect("a value now");
    r.create("sm-token").await.unwrap();
    assert_eq!(world.state().stage("AWSPENDING"), Some(v1));
    r.set("sm-token").await.unwrap();
    r.finish("sm-token").await.unwrap();
    world.assert_no_violations();
}

fn with_probe(world: &World, acceptors: usize, injectors: usize) -> Rotation {
    rotation(world, acceptors, injectors).with_probe(world.direct_probe())
}

#[tokio::test(start_paused = true)]
async fn set_proves_the_acceptors_before_any_injector_switches() {
    let (world, v0) = World::new(1, 2);
    let r = with_probe(&world, 1, 2);
    r.create("t-1").await.unwrap();
    // The WAF has not propagated for longer than acceptor_settle: set fails, retryably,
    // with every injector still on the current value.
    world.state().lagging_probes = 1000;
    let err = r.set("t-1").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("every injector still sends AWSCURRENT"),
        "{err}"
    );
    assert!(world.state().sent.iter().all(|v| v == &v0));
    // Propagated after a few tries: the proof passes, then the switch.
    world.state().lagging_probes = 3;
    world.state().log.clear();
    r.set("t-1").await.unwrap();
    let log = world.state().log.clone();
    let first_send = log.iter().position(|e| *e == "send").unwrap();
    assert!(log[..first_send].contains(&"probe"), "{log:?}");
    r.test("t-1").await.unwrap();
    r.finish("t-1").await.unwrap();
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn a_pending_on_the_current_version_is_a_finished_rotation() {
    let (world, v0) = World::new(1, 1);
    let r = rotation(&world, 1, 1);
    // What AWS may leave after a rotation: AWSPENDING on the AWSCURRENT version.
    world.state().versions[0].0.stages.push("AWSPENDING".into());
    let staged = r.staged().await.unwrap();
    assert!(staged.pending.is_none());
    let report = crate::status::status(&r).await.unwrap();
    assert!(report.drift.is_empty(), "{:?}", report.drift);
    assert!(!report.rotation_in_progress);
    // A new rotation starts (PutSecretValue moves the label), runs and prunes.
    assert!(matches!(r.start().await.unwrap(), Start::New(_)));
    r.rotate(false).await.unwrap();
    assert_ne!(world.state().stage("AWSCURRENT"), Some(v0));
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn a_finish_retried_after_current_moved_completes_the_clean_up() {
    let (world, _) = World::new(1, 1);
    let r = rotation(&world, 1, 1);
    r.create("t-1").await.unwrap();
    r.set("t-1").await.unwrap();
    // The first finish moved AWSCURRENT and died before detaching AWSPENDING.
    r.store()
        .move_stage("AWSCURRENT", Some("t-1"), Some("v0"))
        .await
        .unwrap();
    assert!(world.state().finished_at.is_none());
    r.finish("t-1").await.unwrap();
    let s = world.state();
    assert!(s.finished_at.is_some(), "the window starts");
    assert!(
        !s.versions.iter().any(|(v, _)| v.has("AWSPENDING")),
        "AWSPENDING detached"
    );
}

#[tokio::test(start_paused = true)]
async fn a_value_the_proxies_would_skip_is_refused_and_reported_never_written() {
    let (world, v0) = World::new(1, 1);
    let r = rotation(&world, 1, 1);
    r.create("t-1").await.unwrap();
    world.state().unusable.push("t-1".into());
    for err in [
        r.start().await.unwrap_err(),
        r.set("t-1").await.unwrap_err(),
    ] {
        assert!(matches!(err, SyncError::Refused(_)), "{err}");
        assert!(
            err.to_string().contains("version t-1 (AWSPENDING)"),
            "{err}"
        );
    }
    let report = crate::status::status(&r).await.unwrap();
    assert!(
        report.drift.iter().any(|d| d.contains("version t-1")),
        "{:?}",
        report.drift
    );
    {
        let s = world.state();
        assert!(
            s.accepted[0] == vec![v0.clone()] && s.sent[0] == v0,
            "nothing written"
        );
    }
    r.rollback().await.unwrap();
    assert!(crate::status::status(&r).await.unwrap().drift.is_empty());
}

#[tokio::test(start_paused = true)]
async fn injectors_switch_together_within_one_deadline() {
    let (world, _) = World::new(1, 2);
    let r = rotation(&world, 1, 2);
    r.create("t-1").await.unwrap();
    // Two distributions of 4 minutes each, and 6 minutes left after the settle wait:
    // one after the other they would overrun; together they fit.
    world.state().send_delay = Duration::from_secs(240);
    let until = tokio::time::Instant::now() + TIMING.acceptor_settle + Duration::from_secs(360);
    r.set_until("t-1", Some(until)).await.unwrap();
    // Less time than one deployment: a retryable failure before the deadline, not a kill.
    let (world, _) = World::new(1, 2);
    let r = rotation(&world, 1, 2);
    r.create("t-1").await.unwrap();
    world.state().send_delay = Duration::from_secs(240);
    let until = tokio::time::Instant::now() + TIMING.acceptor_settle + Duration::from_secs(100);
    let err = r.set_until("t-1", Some(until)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        tokio::time::Instant::now() <= until,
        "ended by the deadline"
    );
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn rollback_waits_for_the_injectors_and_the_settle_time_before_narrowing() {
    let (world, v0) = World::new(1, 1);
    let r = rotation(&world, 1, 1);
    r.create("t-1").await.unwrap();
    r.set("t-1").await.unwrap();
    world.state().log.clear();
    let started = tokio::time::Instant::now();
    r.rollback().await.unwrap();
    assert!(started.elapsed() >= TIMING.acceptor_settle);
    let log = world.state().log.clone();
    assert_eq!(
        log,
        ["send", "accept"],
        "injectors back first, then narrowed"
    );
    assert_eq!(world.state().accepted[0], vec![v0]);
    world.assert_no_violations();
}
