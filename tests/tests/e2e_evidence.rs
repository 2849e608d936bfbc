//! The evidence gate end to end under load: the edge twin, two proxies writing embedded
//! metrics, the CloudWatch double fed by a shipper and read over HTTP by the real
//! `edgeguard-sync rotate`, and a forgotten injector: a front door the sync configuration
//! does not know keeps sending the old value. `rotate` must not prune while it does, and
//! must prune once it stops and a quiet period has passed; no valid request fails,
//! through the known doors or the forgotten one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use edgeguard_tests::e2e::{self, Stage};
use edgeguard_tests::edge::FORGOTTEN;
use edgeguard_tests::emf::CloudWatchDouble;
use edgeguard_tests::world::World;
use edgeguard_tests::{client, secret_like};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const NAMESPACE: &str = "edgeguard-e2e";

/// Kills the child if the test fails before it exits.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forgotten_injector_holds_the_prune_until_it_stops() {
    let v0 = secret_like('0');
    let evidence = format!(
        "{}\n[evidence]\nnamespace = \"{NAMESPACE}\"\nquiet_period = \"2m\"\ntimeout = \"5m\"\nemf_interval = \"1s\"\ningestion_margin = \"3s\"\n",
        e2e::TIMING
    );
    let world = Arc::new(World::create_with(&v0, &evidence).await);
    let emf = [
        ("--emf", "stdout"),
        ("--emf-interval", "1s"),
        ("--emf-namespace", NAMESPACE),
    ];
    let mut stage = Stage::start_with(world.clone(), None, &emf).await;
    let cloudwatch = CloudWatchDouble::new(NAMESPACE);
    let shipper =
        cloudwatch.spawn_shipper(stage.proxies.iter().map(|p| p.output_lines()).collect());
    let (cw_addr, cw_server) = cloudwatch.serve().await;

    // The forgotten door sends the value in force now, and keeps sending it; traffic
    // through it at 5 requests/s, each counted.
    stage.edge.set_forgotten(Some(v0.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let forgotten_traffic = {
        let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
        let addr = stage.edge.addr;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            while !stop.load(Relaxed) {
                tick.tick().await;
                sent.fetch_add(1, Relaxed);
                let reply = client::get(addr, &format!("/{FORGOTTEN}/old"), &[]).await;
                if reply.status != 200 {
                    failed.fetch_add(1, Relaxed);
                }
            }
        })
    };

    let log = std::fs::File::create(format!("{TMP}/e2e-evidence-rotate.log")).unwrap();
    let mut rotate = KillOnDrop(
        world
            .sync_command(&["rotate", "--yes"])
            .env("AWS_ENDPOINT_URL_CLOUDWATCH", format!("http://{cw_addr}"))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let rotate_log = || std::fs::read_to_string(format!("{TMP}/e2e-evidence-rotate.log")).unwrap();

    // The rotation finishes (v0 is AWSPREVIOUS, still accepted), then holds in its prune.
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no finish: {}",
            rotate_log()
        );
        assert!(
            rotate.0.try_wait().unwrap().is_none(),
            "rotate ended early: {}",
            rotate_log()
        );
        let staged = world.staged().await;
        if staged.previous.as_deref() == Some(v0.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await; // polls the emulator
    }
    let finished = Instant::now();
    while finished.elapsed() < Duration::from_secs(15) {
        assert!(
            rotate.0.try_wait().unwrap().is_none(),
            "pruned while in use: {}",
            rotate_log()
        );
        assert!(
            world.waf().await.0.contains(&v0),
            "the WAF lost the old value"
        );
        tokio::time::sleep(Duration::from_millis(500)).await; // watches for a prune
    }
    let held = rotate_log();
    assert!(held.contains("waiting for quiet"), "{held}");
    assert!(held.contains("AWSPREVIOUS still in use"), "{held}");
    assert!(held.contains("cloudfront"), "the edge is named: {held}");

    // The forgotten door is fixed (closed); the prune follows a quiet period later.
    stop.store(true, Relaxed);
    forgotten_traffic.await.unwrap();
    stage.edge.set_forgotten(None);
    let stopped = Instant::now();
    let status = loop {
        assert!(
            stopped.elapsed() < Duration::from_secs(240),
            "never pruned: {}",
            rotate_log()
        );
        if let Some(status) = rotate.0.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(500)).await; // waits for rotate
    };
    let log = rotate_log();
    assert!(status.success(), "{log}");
    assert!(
        stopped.elapsed() >= Duration::from_secs(115),
        "pruned before a quiet period: {log}"
    );
    let staged = world.staged().await;
    assert_eq!(staged.previous, None, "pruned");
    let v1 = staged.current.unwrap();
    assert_eq!(world.waf().await.0, vec![v1.clone()]);
    assert!(
        !log.contains(&v0) && !log.contains(&v1),
        "a value in the output"
    );

    assert!(sent.load(Relaxed) > 50);
    assert_eq!(
        failed.load(Relaxed),
        0,
        "requests through the forgotten door failed"
    );
    shipper.abort();
    cw_server.abort();
    stage
        .finish(TMP, "a_forgotten_injector_holds_the_prune_until_it_stops")
        .await;
}
