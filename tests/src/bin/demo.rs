//! `scripts/demo`: the whole story on this machine, loopback only. The AWS emulator with a
//! small estate, two proxies reading the secret from it, a demo app, and the edge twin (the
//! three front doors and the WAF, injecting and checking what the emulator says), under
//! steady traffic; then `edgeguard-sync drill` rotates the secret everywhere while a live
//! line counts what was sent, what failed and what got through. Ends with the drill's phase
//! table and one verdict line; stops everything it started.
//!
//! `--short`: tighter timings, for `scripts/test`. `--adopt`: the adoption story instead
//! (docs/adopt.md): report mode, discover, init, the first rotation, enforce.

use std::io::{BufRead, BufReader};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use edgeguard_tests::e2e::Stage;
use edgeguard_tests::edge::DOORS;
use edgeguard_tests::load::LoadStats;
use edgeguard_tests::world::{OTHER_RULE, RULE, SECRET};

/// The drill's own traffic per probe URL, on top of the demo's steady load.
const DRILL_RPS: &str = "5";

fn live(stats: &LoadStats) -> String {
    format!(
        "traffic: {} valid sent through the edge, {} failed | {} unauthenticated at the proxies, {} got through",
        stats.valid_sent.load(Relaxed),
        stats.valid_failed.load(Relaxed),
        stats.unauth_sent.load(Relaxed),
        stats.unauth_forwarded.load(Relaxed),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--adopt") {
        return if edgeguard_tests::adopt::run().await {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let short = std::env::args().any(|a| a == "--short");
    let started = Instant::now();
    println!(
        "== starting the AWS emulator (moto) with the estate, two proxies, the demo app and the edge twin"
    );
    let mut stage = Stage::start(None).await;
    let w = &stage.world;
    println!("   secret            {SECRET} (Secrets Manager, AWSCURRENT only)");
    println!(
        "   WAF web ACL       {} (regional): rule {RULE} (owned, a byte match on the header) beside {OTHER_RULE}",
        w.waf_name
    );
    println!(
        "   REST API          {} stage prod (header from a stage variable)",
        w.rest_api_id
    );
    println!(
        "   HTTP API          {} stage $default (integration mapping)",
        w.http_api_id
    );
    println!(
        "   CloudFront        {} origin alb (custom origin header)",
        w.distribution_id
    );
    for (i, p) in stage.proxies.iter().enumerate() {
        println!(
            "   proxy {}           http://{} (reads the secret from the emulator every 1 s)",
            i + 1,
            p.enforcing()
        );
    }
    for door in DOORS {
        println!("   front door {door:<10} {}", stage.edge.url(door));
    }
    println!(
        "== steady traffic: {} valid requests/s through each front door, as many without the header (or with a wrong one) straight at the proxies",
        edgeguard_tests::e2e::RPS
    );

    stage.configure_probes();

    println!("== edgeguard-sync status (targets by stage, never by value)");
    let (_, out, _) = w.sync(&["status"]);
    print!("{}", indent(&out));

    let window = if short { "3s" } else { "10s" };
    let after = if short { "3s" } else { "5s" };
    println!(
        "== edgeguard-sync drill: a full rotation under the traffic (dual-accept window {window})"
    );
    let mut drill = w
        .sync_command(&[
            "drill", "--yes", "--rps", DRILL_RPS, "--before", "2s", "--after", after, "--window",
            window,
        ])
        // Its progress lines, not the SDK's warnings about the emulator's test profile.
        .env("EDGEGUARD_LOG", "error")
        .spawn()
        .expect("start edgeguard-sync drill");
    let stderr = drill.stderr.take().unwrap();
    let stdout = drill.stdout.take().unwrap();
    // The drill's progress, line by line as it happens.
    let in_window = Arc::new(AtomicBool::new(false));
    let window_seen = in_window.clone();
    let progress = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            println!("   drill | {line}");
            if line.contains("for the dual-accept window") {
                window_seen.store(true, Relaxed);
            }
        }
    });
    let report = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let stats = stage.load.as_ref().map(|l| l.stats.clone()).unwrap();
    let limit = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = drill.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > limit {
            let _ = drill.kill();
            break None;
        }
        println!("   {}", live(&stats));
        if in_window.swap(false, Relaxed) {
            println!(
                "   -- status in the dual-accept window: both values accepted, the new one sent"
            );
            let (_, out, _) = w.sync(&["status"]);
            print!("{}", indent(&indent(&out)));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let _ = progress.join();
    let table = report.join().unwrap_or_default();
    println!("== the drill's report");
    print!("{}", indent(&table));

    println!("== edgeguard-sync status after the rotation");
    let (_, out, _) = w.sync(&["status"]);
    print!("{}", indent(&out));

    let stats: Arc<LoadStats> = stage.load.take().unwrap().stop().await;
    let upstream_saw_header = stage
        .upstream
        .seen()
        .iter()
        .any(|s| s.headers.contains_key(edgeguard_tests::world::HEADER));
    let (sent, failed) = (
        stats.valid_sent.load(Relaxed),
        stats.valid_failed.load(Relaxed),
    );
    let (unauth, through) = (
        stats.unauth_sent.load(Relaxed),
        stats.unauth_forwarded.load(Relaxed),
    );
    let drill_passed = status.is_some_and(|s| s.success());
    println!("== verdict (the demo's own traffic; the drill's is in its report)");
    println!(
        "{failed} of {sent} valid requests failed; {through} of {unauth} unauthenticated got through"
    );
    if upstream_saw_header {
        println!("the app saw the header: the proxies must strip it");
    }
    println!(
        "drill {}; {:.0} s; everything started is stopped",
        if drill_passed { "passed" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    drop(stage);
    if failed == 0 && through == 0 && sent > 0 && drill_passed && !upstream_saw_header {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}\n")).collect()
}
