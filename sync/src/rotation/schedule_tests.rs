//! The rotation's own schedule against its safety net: a new rotation never detaches a
//! protected AWSPREVIOUS, a retried finish restarts the window, the acceptors' proof takes
//! several samples, and a value some target cannot hold is written nowhere.

use std::time::Duration;

use super::fake::{TIMING, World, one_of_each as rotation, paused_clock};
use super::*;
use crate::targets::rules;

const NEXT: &str = "9b1f3c1e-7d2a-4c55-9a0e-3f6b8d2c4e10";

/// A rotation finished but not pruned: its AWSPREVIOUS is inside the window.
async fn finished(world: &World, r: &Rotation) -> Secret {
    r.rotate(true).await.unwrap();
    world.state().stage("AWSPREVIOUS").expect("protected")
}

#[tokio::test(start_paused = true)]
async fn a_new_rotation_inside_the_window_refuses_and_changes_nothing() {
    let (world, v0) = World::new(1, 1);
    let r = rotation(&world);
    assert_eq!(finished(&world, &r).await, v0);
    // A sender outside the configuration still uses the old value: any detach or
    // narrowing of it is recorded as a violation by the fake world.
    world.state().still_sent = vec![v0.clone()];
    let before = world.state().accepted.clone();
    // What Secrets Manager does before createSecret: registers the version, no value.
    world.register_pending(NEXT);
    let e = r.create(NEXT).await.unwrap_err();
    assert!(matches!(e, SyncError::Refused(_)), "{e}");
    let text = e.to_string();
    for part in [
        "would detach AWSPREVIOUS (version v0)",
        "dual-accept window has 15m left",
        "prune --force",
        "--ignore-evidence",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    {
        let s = world.state();
        assert_eq!(s.stage("AWSPREVIOUS"), Some(v0.clone()), "still attached");
        assert_eq!(s.accepted, before, "nothing narrowed");
        assert!(
            s.versions
                .iter()
                .any(|(v, value)| v.id == NEXT && value.is_none()),
            "no value put"
        );
    }
    world.assert_no_violations();
    // The same refusal through `rotate`: it finishes the last rotation's prune instead.
    world.state().versions.retain(|(v, _)| v.id != NEXT);
    assert_eq!(r.start().await.unwrap(), Start::PruneOnly);
    // Past the window, once the old sender is gone: the prune runs first, then the new
    // rotation.
    world.state().still_sent.clear();
    tokio::time::advance(TIMING.dual_accept_window).await;
    world.register_pending(NEXT);
    r.create(NEXT).await.unwrap();
    {
        let s = world.state();
        assert!(s.stage("AWSPENDING").is_some());
        assert_eq!(s.stage("AWSPREVIOUS"), None, "pruned first");
        assert_eq!(s.accepted[0].len(), 1);
    }
    r.set(NEXT).await.unwrap();
    r.finish(NEXT).await.unwrap();
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn a_finish_retried_after_the_stages_moved_restarts_the_window() {
    let (world, _) = World::new(1, 1);
    let r = rotation(&world);
    // Rotation N, finished and pruned.
    r.rotate(false).await.unwrap();
    let n_finished = world.state().finished_at.unwrap();
    // Rotation N+1 much later: its first finish moves AWSCURRENT, detaches AWSPENDING, and
    // dies before tagging.
    tokio::time::advance(Duration::from_secs(3 * 3600)).await;
    r.create(NEXT).await.unwrap();
    r.set(NEXT).await.unwrap();
    let current = world
        .state()
        .versions
        .iter()
        .find(|(v, _)| v.has("AWSCURRENT"))
        .unwrap()
        .0
        .id
        .clone();
    r.store()
        .move_stage("AWSCURRENT", Some(NEXT), Some(&current))
        .await
        .unwrap();
    r.store()
        .move_stage("AWSPENDING", None, Some(NEXT))
        .await
        .unwrap();
    {
        let s = world.state();
        assert_eq!(s.finished_at, Some(n_finished), "still rotation N's record");
        assert_ne!(s.finished_version.as_deref(), Some(NEXT));
    }
    // The window does not count as over: rotation N's record is not this version's.
    let staged = r.staged().await.unwrap();
    assert_eq!(r.window_left(&staged), TIMING.dual_accept_window);
    // Secrets Manager retries finishSecret: the record is now this rotation's.
    r.finish(NEXT).await.unwrap();
    {
        let s = world.state();
        assert_eq!(s.finished_version.as_deref(), Some(NEXT));
        assert!(s.finished_at.unwrap() > n_finished);
    }
    let e = r.prune(false).await.unwrap_err();
    assert!(e.to_string().contains("15m left"), "{e}");
    tokio::time::advance(TIMING.dual_accept_window - Duration::from_secs(1)).await;
    assert!(r.prune(false).await.is_err(), "a second early");
    tokio::time::advance(Duration::from_secs(1)).await;
    r.prune(false).await.unwrap();
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn an_unrecorded_finish_starts_the_window_when_noticed_never_earlier() {
    let (world, v0) = World::new(1, 1);
    let r = rotation(&world);
    r.create(NEXT).await.unwrap();
    r.set(NEXT).await.unwrap();
    // The first ever finish moved AWSCURRENT and died: no record at all.
    r.store()
        .move_stage("AWSCURRENT", Some(NEXT), Some("v0"))
        .await
        .unwrap();
    r.store()
        .move_stage("AWSPENDING", None, Some(NEXT))
        .await
        .unwrap();
    assert!(world.state().finished_at.is_none());
    // A prune (the scheduled one, or a new rotation's) records the start and refuses.
    let e = r.prune(false).await.unwrap_err();
    assert!(e.to_string().contains("15m left"), "{e}");
    assert_eq!(world.state().finished_version.as_deref(), Some(NEXT));
    assert_eq!(world.state().stage("AWSPREVIOUS"), Some(v0));
    tokio::time::advance(TIMING.dual_accept_window).await;
    r.prune(false).await.unwrap();
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn the_proof_needs_several_accepted_requests_in_a_row() {
    let (world, v0) = World::new(1, 2);
    let r = Rotation::new("fake", Box::new(world.clone()), TIMING)
        .with_clock(paused_clock())
        .with_acceptor(world.acceptor(0))
        .with_injector(world.injector(0))
        .with_injector(world.injector(1))
        .with_probe(world.direct_probe());
    r.create(NEXT).await.unwrap();
    // One node in four still refuses: never six in a row, so no injector switches.
    world.state().refuse_every = 4;
    let e = r.set(NEXT).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains("6 times in a row"), "{e}");
    assert!(world.state().sent.iter().all(|v| v == &v0));
    // Every node propagated: the proof passes with six, then the switch.
    world.state().refuse_every = 0;
    world.state().probes = 0;
    world.state().log.clear();
    r.set(NEXT).await.unwrap();
    let log = world.state().log.clone();
    let first_send = log.iter().position(|e| *e == "send").unwrap();
    assert_eq!(
        log[..first_send].iter().filter(|e| **e == "probe").count(),
        crate::rotation::steps::PROOF_SAMPLES
    );
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn a_value_a_target_cannot_hold_is_refused_and_written_nowhere() {
    let (world, v0) = World::new(1, 1);
    world.state().injector_rule = Some(rules::STAGE_VARIABLE);
    let r = rotation(&world);
    // A hand-put AWSPENDING: valid for the proxies, but not for a REST stage variable.
    let odd = Secret::new(b"odd+value").unwrap();
    r.store().put_pending(NEXT, &odd).await.unwrap();
    for e in [r.start().await.unwrap_err(), r.set(NEXT).await.unwrap_err()] {
        assert!(matches!(e, SyncError::Refused(_)), "{e}");
        let text = e.to_string();
        assert!(text.contains("version 9b1f3c1e"), "{text}");
        assert!(text.contains("injector 0 cannot hold exactly"), "{text}");
        assert!(text.contains("letters, digits and -._~:/?#&=,"), "{text}");
        assert!(!text.contains("odd+value"), "never the value: {text}");
    }
    let report = crate::status::status(&r).await.unwrap();
    assert!(
        report
            .drift
            .iter()
            .any(|d| d.contains("cannot hold exactly")),
        "{:?}",
        report.drift
    );
    {
        let s = world.state();
        assert_eq!(s.accepted[0], vec![v0.clone()], "not widened");
        assert_eq!(s.sent[0], v0);
    }
    r.rollback().await.unwrap();
    // A generated value fits: the next rotation runs.
    r.rotate(false).await.unwrap();
    world.assert_no_violations();
}
