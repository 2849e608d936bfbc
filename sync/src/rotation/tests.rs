use std::time::Duration;

use super::fake::World;
use super::*;
use crate::config::Timing;

const TIMING: Timing = Timing {
    acceptor_settle: Duration::from_secs(90),
    dual_accept_window: Duration::from_secs(900),
    cloudfront_deploy_timeout: Duration::from_secs(1500),
};

fn rotation(world: &World, acceptors: usize, injectors: usize) -> Rotation {
    Rotation {
        secret_id: "fake".into(),
        store: Box::new(world.clone()),
        acceptors: (0..acceptors).map(|i| world.acceptor(i)).collect(),
        injectors: (0..injectors).map(|i| world.injector(i)).collect(),
        probes: Vec::new(),
        timing: TIMING,
        progress: Box::new(Quiet),
        clock: paused_clock(),
    }
}

/// Wall-clock time that moves with tokio's (paused) clock.
fn paused_clock() -> Clock {
    let base = std::time::SystemTime::now();
    let start = tokio::time::Instant::now();
    std::sync::Arc::new(move || base + start.elapsed())
}

fn no_violations(world: &World) {
    let s = world.state();
    assert!(
        s.violations.is_empty(),
        "invariant broken: {:?}",
        s.violations
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_rotation_never_breaks_the_invariant() {
    let (world, v0) = World::new(2, 3);
    let r = rotation(&world, 2, 3);
    r.rotate(false).await.unwrap();
    no_violations(&world);
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
    no_violations(&world);
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
    no_violations(&world);
    r.set(token).await.unwrap();
    r.finish(token).await.unwrap();
    no_violations(&world);
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
    no_violations(&world);
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
    no_violations(&world);
}

#[tokio::test(start_paused = true)]
async fn rollback_after_set_restores_the_current_value_in_order() {
    let (world, v0) = World::new(2, 2);
    let r = rotation(&world, 2, 2);
    r.create("t-1").await.unwrap();
    r.set("t-1").await.unwrap();
    r.rollback().await.unwrap();
    no_violations(&world);
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
    no_violations(&world);
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
    no_violations(&world);
}
