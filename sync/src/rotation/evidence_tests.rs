//! The evidence gate inside prune and rotate, on the in-memory world.

use std::time::Duration;

use super::fake::{FakeWitness, World, paused_clock};
use super::*;
use crate::config::{Evidence, Timing};
use crate::store::PRUNED_WITHOUT_EVIDENCE_TAG;

const TIMING: Timing = Timing {
    acceptor_settle: Duration::from_secs(90),
    dual_accept_window: Duration::from_secs(900),
    cloudfront_deploy_timeout: Duration::from_secs(1500),
};

const SETTINGS: Evidence = Evidence {
    sources: Vec::new(),
    quiet_period: Duration::from_secs(600),
    timeout: Duration::from_secs(3600),
    emf_interval: Duration::from_secs(60),
    ingestion_margin: Duration::from_secs(300),
};

fn rotation(world: &World, witness: &FakeWitness) -> Rotation {
    Rotation::new("fake", Box::new(world.clone()), TIMING)
        .with_clock(paused_clock())
        .with_acceptor(world.acceptor(0))
        .with_injector(world.injector(0))
        .with_evidence(vec![Box::new(witness.clone())], SETTINGS.clone())
}

/// A finished, unpruned rotation: AWSPREVIOUS still accepted.
async fn finished(world: &World, witness: &FakeWitness) -> Rotation {
    let r = rotation(world, witness);
    r.rotate(true).await.unwrap();
    assert!(world.state().stage("AWSPREVIOUS").is_some());
    r
}

fn still_accepts_previous(world: &World) -> bool {
    let s = world.state();
    let previous = s.stage("AWSPREVIOUS");
    previous.is_some() && s.accepted[0].contains(previous.as_ref().unwrap())
}

#[tokio::test(start_paused = true)]
async fn prune_refuses_while_previous_is_in_use_and_changes_nothing() {
    let (world, _) = World::new(1, 1);
    let witness = FakeWitness::new(&[(100, 3)]);
    let r = finished(&world, &witness).await;
    let e = r.prune(true).await.unwrap_err().to_string();
    assert!(e.contains("AWSPREVIOUS still in use"), "{e}");
    assert!(e.contains("accepted 3 (cloudfront 3)"), "{e}");
    assert!(still_accepts_previous(&world));
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn prune_refuses_when_the_fleet_reports_nothing() {
    let (world, _) = World::new(1, 1);
    let witness = FakeWitness::new(&[(0, 0)]);
    let r = finished(&world, &witness).await;
    let e = r.prune(true).await.unwrap_err().to_string();
    assert!(e.contains("no proof that the proxies report"), "{e}");
    assert!(still_accepts_previous(&world));
}

#[tokio::test(start_paused = true)]
async fn prune_proceeds_when_quiet() {
    let (world, _) = World::new(1, 1);
    let witness = FakeWitness::new(&[(5, 0)]);
    let r = finished(&world, &witness).await;
    r.prune(true).await.unwrap();
    assert_eq!(world.state().stage("AWSPREVIOUS"), None);
    assert!(world.state().tags.is_empty());
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn force_skips_only_the_window_and_ignore_evidence_skips_the_gate_and_tags() {
    let (world, _) = World::new(1, 1);
    let witness = FakeWitness::new(&[(100, 3)]);
    let r = finished(&world, &witness).await;
    // --force alone: the window is skipped, the evidence is not.
    assert!(r.prune_with(true, false).await.is_err());
    // --ignore-evidence alone: the window still holds.
    let e = r.prune_with(false, true).await.unwrap_err().to_string();
    assert!(e.contains("dual-accept window"), "{e}");
    r.prune_with(true, true).await.unwrap();
    let s = world.state();
    assert_eq!(s.stage("AWSPREVIOUS"), None);
    assert_eq!(s.tags.len(), 1);
    assert_eq!(s.tags[0].0, PRUNED_WITHOUT_EVIDENCE_TAG);
}

#[tokio::test(start_paused = true)]
async fn rotate_waits_for_quiet_then_prunes() {
    let (world, _) = World::new(1, 1);
    // Three reads with the old value in use (a forgotten injector), then it stops.
    let witness = FakeWitness::new(&[(10, 4), (10, 2), (10, 1), (10, 0)]);
    let r = rotation(&world, &witness);
    let start = tokio::time::Instant::now();
    r.rotate(false).await.unwrap();
    assert_eq!(world.state().stage("AWSPREVIOUS"), None, "pruned");
    // The window, then three polls (quiet_period / 4, at most 60 s), then the prune's own
    // read.
    let waited = start.elapsed();
    assert!(
        waited >= TIMING.dual_accept_window + Duration::from_secs(180),
        "{waited:?}"
    );
    assert_eq!(*witness.reads.lock().unwrap(), 5);
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn rotate_gives_up_after_the_timeout_and_leaves_the_rotation_unpruned() {
    let (world, v0) = World::new(1, 1);
    let witness = FakeWitness::new(&[(10, 1)]);
    let r = rotation(&world, &witness);
    let start = tokio::time::Instant::now();
    let e = r.rotate(false).await.unwrap_err();
    assert!(matches!(e, SyncError::Timeout(_)), "{e}");
    let text = e.to_string();
    assert!(text.contains("finished but not pruned"), "{text}");
    let waited = start.elapsed() - TIMING.dual_accept_window;
    assert!(waited >= SETTINGS.timeout && waited < SETTINGS.timeout + Duration::from_secs(300));
    {
        let s = world.state();
        assert_ne!(s.stage("AWSCURRENT"), Some(v0.clone()), "finished");
        assert_eq!(s.stage("AWSPREVIOUS"), Some(v0), "not pruned");
    }
    // The next `rotate` resumes with the prune, and prunes once the evidence is quiet.
    *witness.script.lock().unwrap() = vec![(10, 0)];
    r.rotate(false).await.unwrap();
    assert_eq!(world.state().stage("AWSPREVIOUS"), None);
}

#[tokio::test(start_paused = true)]
async fn without_a_previous_version_there_is_nothing_to_prove() {
    let (world, _) = World::new(1, 1);
    let witness = FakeWitness::new(&[(0, 0)]);
    let r = rotation(&world, &witness);
    r.prune(true).await.unwrap();
    assert_eq!(*witness.reads.lock().unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn silence_at_the_end_of_the_window_proves_nothing() {
    let (world, _) = World::new(1, 1);
    let witness = FakeWitness::new(&[(900, 0)]);
    *witness.stale.lock().unwrap() = true;
    let r = finished(&world, &witness).await;
    let e = r.prune(true).await.unwrap_err().to_string();
    assert!(e.contains("stopped reporting"), "{e}");
    assert!(still_accepts_previous(&world));
    // An unreadable source is an error too, never quiet.
    *witness.stale.lock().unwrap() = false;
    *witness.failing.lock().unwrap() = true;
    let e = r.prune(true).await.unwrap_err().to_string();
    assert!(e.contains("InternalError"), "{e}");
    assert!(still_accepts_previous(&world));
    *witness.failing.lock().unwrap() = false;
    r.prune(true).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn every_source_must_be_quiet_and_fresh() {
    let (world, _) = World::new(1, 1);
    let quiet = FakeWitness::new(&[(50, 0)]).named("cloudwatch eu-west-1 edgeguard");
    let busy = FakeWitness::new(&[(50, 2)]).named("cloudwatch us-east-1 edgeguard");
    let r = Rotation::new("fake", Box::new(world.clone()), TIMING)
        .with_acceptor(world.acceptor(0))
        .with_injector(world.injector(0))
        .with_evidence(
            vec![Box::new(quiet.clone()), Box::new(busy.clone())],
            SETTINGS.clone(),
        );
    r.rotate(true).await.unwrap();
    let e = r.prune(true).await.unwrap_err().to_string();
    assert!(
        e.contains("cloudwatch us-east-1 edgeguard: AWSCURRENT") && e.contains("still in use"),
        "{e}"
    );
    assert!(still_accepts_previous(&world));
    *busy.script.lock().unwrap() = vec![(50, 0)];
    r.prune(true).await.unwrap();
    assert_eq!(*quiet.reads.lock().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_window_read_follows_the_clock_and_the_settings() {
    let (world, _) = World::new(1, 1);
    let witness = FakeWitness::new(&[(5, 0)]);
    let r = finished(&world, &witness).await;
    r.prune(true).await.unwrap();
    let w = witness.windows.lock().unwrap()[0];
    // The quiet period (10m) and the blind part (60s + 5m), in whole minutes.
    assert!(w.span() >= Duration::from_secs(16 * 60), "{:?}", w.span());
    assert!(w.span() <= Duration::from_secs(18 * 60), "{:?}", w.span());
    assert!(
        w.to > w.now,
        "the current minute is read (EndTime is exclusive)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_rotation_refuses_while_the_evidence_protects_the_old_value() {
    let (world, v0) = World::new(1, 1);
    let witness = FakeWitness::new(&[(100, 3)]);
    let r = finished(&world, &witness).await;
    // Past the window: only the evidence still protects AWSPREVIOUS.
    tokio::time::advance(TIMING.dual_accept_window).await;
    world.register_pending("next");
    let e = r.create("next").await.unwrap_err();
    assert!(matches!(e, SyncError::Refused(_)), "{e}");
    let text = e.to_string();
    assert!(text.contains("would detach AWSPREVIOUS"), "{text}");
    assert!(text.contains("AWSPREVIOUS still in use"), "{text}");
    assert_eq!(world.state().stage("AWSPREVIOUS"), Some(v0));
    assert!(still_accepts_previous(&world));
    // Quiet: the new rotation prunes first, then creates.
    *witness.script.lock().unwrap() = vec![(100, 0)];
    r.create("next").await.unwrap();
    assert_eq!(world.state().stage("AWSPREVIOUS"), None);
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn an_idle_service_is_kept_fresh_by_requests_of_the_tools_own() {
    let (world, _) = World::new(1, 1);
    let witness = FakeWitness::new(&[(1, 0)]);
    let r = rotation(&world, &witness).with_probe(world.direct_probe());
    r.rotate(true).await.unwrap();
    world.state().log.clear();
    // `rotate` resuming the prune: a request with AWSCURRENT every beat of the window.
    r.rotate(false).await.unwrap();
    let probes = world.state().log.iter().filter(|e| **e == "probe").count();
    let beats = (TIMING.dual_accept_window.as_secs() / 60) as usize;
    assert!(
        probes >= beats,
        "{probes} evidence requests in {beats} beats"
    );
    // Without [evidence], none.
    let (world, _) = World::new(1, 1);
    let plain = rotation(&world, &witness);
    let plain = Rotation::new("fake", Box::new(world.clone()), TIMING)
        .with_clock(plain.clock.clone())
        .with_acceptor(world.acceptor(0))
        .with_injector(world.injector(0))
        .with_probe(world.direct_probe());
    plain.rotate(true).await.unwrap();
    world.state().log.clear();
    plain.rotate(false).await.unwrap();
    assert!(!world.state().log.contains(&"probe"));
}
