//! Zero-downtime rotation, end to end: the emulator, the edge twin (front doors + WAF read
//! back from the emulator, with propagation delays), two proxies reading the secret from
//! the emulator, an upstream, and traffic at a fixed rate for the whole run. Every test
//! ends with zero failed valid requests, zero unauthenticated requests forwarded, the
//! upstream never seeing the header, and the invariant read back from every target.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use edgeguard_tests::e2e::{self, Stage};
use edgeguard_tests::edge::{DOORS, EdgeOptions, EdgeTwin};
use edgeguard_tests::gate::Gate;
use edgeguard_tests::proxy::Proxy;
use edgeguard_tests::upstream::Upstream;
use edgeguard_tests::world::{World, wait_child};
use edgeguard_tests::{client, poll, secret_like};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const LIMIT: Duration = Duration::from_secs(60);

/// Polls the emulator until the WAF rule accepts `n` values (a rotation has widened).
async fn wait_waf_accepts(world: &World, n: usize) {
    poll(LIMIT, "the WAF rule to widen", || async {
        (world.waf().await.0.len() == n).then_some(())
    })
    .await;
}

/// The twin itself: the value a front door sends passes the WAF twin and a proxy; a rule
/// changed by hand blocks it once the change has propagated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_twin_allows_what_the_rule_accepts_and_blocks_the_rest() {
    let v0 = secret_like('0');
    let world = Arc::new(World::create_with(&v0, e2e::TIMING).await);
    let upstream = Upstream::start().await;
    let proxy = e2e::start_proxy(&world, &upstream, &world.moto.endpoint()).await;
    let options = EdgeOptions {
        injector_delay: Duration::ZERO,
        waf_delay: Duration::from_millis(500),
        ..EdgeOptions::default()
    };
    let edge = EdgeTwin::start(world.clone(), vec![proxy.enforcing()], options).await;
    for door in DOORS {
        let path = format!("/{door}/x");
        assert_eq!(
            client::get(edge.addr, &path, &[]).await.status,
            200,
            "{door}"
        );
    }
    assert_eq!(client::get(edge.addr, "/nowhere/x", &[]).await.status, 404);
    let (sends, allowed) = edge.sends(0, 0);
    assert_eq!(sends.as_deref(), Some(v0.as_str()));
    assert!(allowed);
    assert!(
        upstream
            .seen()
            .iter()
            .all(|s| !s.headers.contains_key("x-origin-verify"))
    );

    // The rule now accepts another value only: blocked, but only after the WAF's delay.
    let other = secret_like('9');
    world
        .edit_waf_rules(|rules| {
            let owned = rules
                .iter_mut()
                .find(|r| r.name() == "origin-verify")
                .unwrap();
            let mut statement = owned.statement().unwrap().clone();
            let mut m = statement.byte_match_statement().unwrap().clone();
            m.search_string = aws_sdk_wafv2::primitives::Blob::new(other.as_bytes());
            statement.byte_match_statement = Some(m);
            owned.statement = Some(statement);
        })
        .await;
    poll(LIMIT, "the WAF twin to block", || async {
        (client::get(edge.addr, "/rest/x", &[]).await.status == 403).then_some(())
    })
    .await;
    assert!(edge.stats.waf_blocked.load(Relaxed) >= 1);
    let before = upstream.seen().len();
    assert_eq!(client::get(edge.addr, "/http/x", &[]).await.status, 403);
    assert_eq!(
        upstream.seen().len(),
        before,
        "a blocked request reached the upstream"
    );
}

/// Three full rotations back to back (prune included) under load, driven step by step
/// with time between the steps, as Secrets Manager drives the rotation Lambda: nothing
/// fails, and each proxy's per-stage counters show current → pending → current for every
/// rotation. (With `rotate`, the pending label can last less than one refresh interval.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_rotations_under_load_fail_no_request() {
    let mut stage = Stage::start(None).await;
    // Each phase (current, then per rotation pending and current again) is proven by the
    // proxies' own per-stage counters: a wait after the step that begins it, until that
    // stage's counter has grown on every proxy. (A sampler polling the counters used to be
    // asked for the sequence, and could miss a short phase on a busy machine while every
    // request succeeded: the verdict must not depend on sampling fast enough.)
    // Traffic before the first rotation: every proxy admits the current value.
    let zero = vec![[0.0; 3]; stage.proxies.len()];
    stage
        .wait_counted(e2e::CURRENT, &zero, "traffic before the rotations")
        .await;
    let mut values = vec![stage.world.staged().await.current.unwrap()];
    for round in 1..=3 {
        let token = format!("00000000-0000-4000-8000-00000000010{round}");
        for step in ["create", "set", "test", "finish"] {
            let since = stage.counters().await;
            let (code, _, err) = stage.world.sync(&["step", step, "--token", &token]);
            assert_eq!(code, 0, "rotation {round}, {step}: {err}");
            stage
                .world
                .assert_invariant(&format!("rotation {round}, after {step}"))
                .await;
            // Traffic on each state the step leaves, as between the Lambda's invocations:
            // after set the edge sends the pending value, after finish (once the proxies
            // have refreshed) it is the current one.
            match step {
                "set" => {
                    let what = "pending traffic on every proxy";
                    stage.wait_counted(e2e::PENDING, &since, what).await
                }
                "finish" => {
                    let what = "the new current value on every proxy";
                    stage.wait_counted(e2e::CURRENT, &since, what).await
                }
                _ => {}
            }
        }
        // The unpruned rotation: `rotate` waits out the window and prunes.
        let (code, _, err) = stage.world.sync(&["rotate", "--yes"]);
        assert_eq!(code, 0, "rotation {round}, prune: {err}");
        stage
            .world
            .assert_invariant(&format!("after rotation {round}"))
            .await;
        let staged = stage.world.staged().await;
        assert!(
            staged.pending.is_none() && staged.previous.is_none(),
            "pruned"
        );
        values.push(staged.current.unwrap());
        // The proxies' next refreshes drop the old value; traffic goes on meanwhile.
        stage.wait_accepted_values(1).await;
    }
    values.dedup();
    assert_eq!(values.len(), 4, "each rotation makes a new value");
    stage.finish(TMP, "several_rotations_under_load").await;
}

/// `edgeguard-sync drill` through the edge twin: its own traffic and report agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drill_passes_through_the_edge_twin() {
    let mut stage = Stage::start(None).await;
    stage.configure_probes();
    let junit = stage.world.config.with_file_name("drill.xml");
    let (code, out, err) = stage.world.sync(&[
        "drill",
        "--yes",
        "--rps",
        "10",
        "--before",
        "1s",
        "--after",
        "3s",
        "--window",
        "3s",
        "--json",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["passed"], true, "{out}");
    assert_eq!(report["rotation_error"], serde_json::Value::Null);
    assert_eq!(report["edge"]["rejected"], 0);
    assert_eq!(report["edge"]["errors"], 0);
    assert!(report["edge"]["sent"].as_u64().unwrap() > 100, "{out}");
    assert_eq!(report["direct"]["let_through"], 0);
    assert_eq!(
        report["direct"]["sent"], report["direct"]["rejected"],
        "{out}"
    );
    let phases: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    // The phases that last seconds; create, widen, switch, test, finish and prune take
    // milliseconds here and may see no request at 10 requests/s.
    for wanted in ["before", "settle", "window", "after"] {
        assert!(phases.contains(&wanted), "{wanted} missing: {phases:?}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"0\""), "{xml}");
    // The drill's values never show: its output names stages and counts only.
    let staged = stage.world.staged().await;
    for v in [staged.current.unwrap(), secret_like('0')] {
        assert!(!out.contains(&v) && !err.contains(&v) && !xml.contains(&v));
    }
    stage.world.assert_invariant("after the drill").await;
    stage.finish(TMP, "drill").await;
}

/// The CLI stopped after each step (each step a process of its own), then `rotate`
/// resumes; and once killed outright (SIGKILL) during `set`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_stopped_after_each_step_resumes_without_a_failed_request() {
    let mut stage = Stage::start(None).await;
    let steps = ["create", "set", "test", "finish"];
    for done in 1..=steps.len() {
        let token = format!("00000000-0000-4000-8000-00000000000{done}");
        for step in &steps[..done] {
            let (code, _, err) = stage.world.sync(&["step", step, "--token", &token]);
            assert_eq!(code, 0, "{step}: {err}");
            stage.world.assert_invariant(&format!("after {step}")).await;
        }
        let (code, _, err) = stage.world.sync(&["rotate", "--yes"]);
        assert_eq!(code, 0, "resume after {}: {err}", steps[done - 1]);
        stage
            .world
            .assert_invariant("after the resumed rotation")
            .await;
        assert!(stage.world.staged().await.pending.is_none());
    }
    // SIGKILL in the middle of `set` (the WAF widened, the settle wait running).
    let mut child = stage.world.sync_spawn(&["rotate", "--yes"]);
    wait_waf_accepts(&stage.world, 2).await;
    child.kill().unwrap();
    wait_child(&mut child, LIMIT).await;
    stage.world.assert_invariant("after SIGKILL").await;
    let (code, _, err) = stage.world.sync(&["rotate", "--yes"]);
    assert_eq!(code, 0, "{err}");
    stage
        .world
        .assert_invariant("after the resumed rotation")
        .await;
    stage.finish(TMP, "stopped_after_each_step").await;
}

/// The emulator unreachable (for the CLI and the proxies) during `set`: the step fails,
/// the proxies keep their last good set, nothing is rejected; once it is back, `rotate`
/// resumes and completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_unavailable_during_set_rejects_nothing() {
    // The gate sits between the emulator and both the proxies and the CLI; the edge twin
    // (AWS's own edge) and the read-backs reach the emulator directly.
    let world = Arc::new(World::create_with(&secret_like('0'), e2e::TIMING).await);
    let gate = Gate::start(SocketAddr::from(([127, 0, 0, 1], world.moto.port()))).await;
    let mut stage = Stage::start_in(world, Some(gate.url())).await;
    let via_gate = |args: &[&str]| {
        let mut command = stage.world.sync_command(args);
        command.env("AWS_ENDPOINT_URL", gate.url());
        command
    };
    let mut child = via_gate(&["rotate", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_waf_accepts(&stage.world, 2).await;
    gate.close();
    // The switch after the settle wait cannot read the injectors: the step fails.
    let status = wait_child(&mut child, LIMIT).await;
    assert!(!status.success(), "set cannot succeed without the emulator");
    stage
        .world
        .assert_invariant("the emulator unreachable")
        .await;
    // The outage goes on: the proxies' refreshes fail and they keep their last good set.
    poll(LIMIT, "a failed refresh on each proxy", || async {
        let mut all = true;
        for p in &stage.proxies {
            all &= p
                .metric("edgeguard_secret_refresh_total{result=\"error\"}")
                .await
                >= 1.0;
        }
        all.then_some(())
    })
    .await;
    // The outage lasts a little longer: proxies' refreshes keep failing meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    gate.open();
    let out = via_gate(&["rotate", "--yes"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stage
        .world
        .assert_invariant("after the resumed rotation")
        .await;
    stage.wait_accepted_values(1).await;
    stage.finish(TMP, "emulator_unavailable").await;
}

/// A proxy restarted in the middle of a rotation (taken out of the edge's targets first,
/// as an ALB deregisters a task): it comes back accepting the pending value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_restarted_mid_rotation_rejects_nothing() {
    let mut stage = Stage::start(None).await;
    let mut child = stage.world.sync_spawn(&["rotate", "--yes"]);
    wait_waf_accepts(&stage.world, 2).await;
    // Deregister, drain, stop, start again, register.
    let old = stage.proxies.remove(0);
    stage.edge.set_targets(stage.targets());
    stage.load.as_ref().unwrap().set_direct(stage.targets());
    let mut old = old;
    old.signal(libc::SIGTERM);
    old.wait_exit(LIMIT).await;
    let fresh: Proxy = e2e::start_proxy(&stage.world, &stage.upstream, &stage.endpoint).await;
    stage.proxies.insert(0, fresh);
    stage.edge.set_targets(stage.targets());
    stage.load.as_ref().unwrap().set_direct(stage.targets());
    let status = wait_child(&mut child, LIMIT).await;
    assert!(status.success(), "the rotation failed");
    stage.world.assert_invariant("after the rotation").await;
    // The restarted proxy served traffic with the rotation's values.
    let m = e2e::matches(stage.proxies[0].admin()).await;
    assert!(
        m[0] + m[1] > 0.0,
        "the restarted proxy accepted nothing: {m:?}"
    );
    stage.finish(TMP, "proxy_restarted").await;
}

/// After finish, one injector lags and still sends the previous value (its update has not
/// reached the edge): `prune` refuses, the WAF keeps accepting that value, nothing fails;
/// once it catches up, prune goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_refuses_while_an_injector_lags_and_nothing_fails() {
    let mut stage = Stage::start(None).await;
    let (code, _, err) = stage.world.sync(&["rotate", "--yes", "--skip-prune"]);
    assert_eq!(code, 0, "{err}");
    let staged = stage.world.staged().await;
    let (current, previous) = (staged.current.unwrap(), staged.previous.unwrap());
    let since = stage.counters().await;
    set_http_api_value(&stage.world, &previous).await;
    stage.wait_edge_sends(1, &previous).await;
    let (code, _, err) = stage.world.sync(&["prune", "--force"]);
    assert_eq!(
        code, 1,
        "prune must refuse while an injector sends the previous value"
    );
    assert!(err.contains("http"), "{err}");
    assert!(!err.contains(&previous) && !err.contains(&current));
    assert_eq!(
        stage.world.waf().await.0.len(),
        2,
        "the WAF still accepts both"
    );
    // Requests carrying the lagging value reach every proxy, and are admitted.
    let what = "the lagging value on every proxy";
    stage.wait_counted(e2e::PREVIOUS, &since, what).await;
    set_http_api_value(&stage.world, &current).await;
    stage.wait_edge_sends(1, &current).await;
    let (code, _, err) = stage.world.sync(&["prune", "--force"]);
    assert_eq!(code, 0, "{err}");
    stage.world.assert_invariant("after prune").await;
    stage.wait_accepted_values(1).await;
    stage.finish(TMP, "lagging_injector").await;
}

/// Writes the HTTP API's header mapping by hand (keeping its other mapping).
async fn set_http_api_value(world: &World, value: &str) {
    let http = aws_sdk_apigatewayv2::Client::new(&world.sdk);
    http.update_integration()
        .api_id(&world.http_api_id)
        .integration_id(&world.integration_id)
        .request_parameters("overwrite:header.x-origin-verify", value)
        .request_parameters("append:header.x-trace", "keep-me")
        .send()
        .await
        .unwrap();
}
