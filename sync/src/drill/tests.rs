//! The drill against the in-memory world, with a loopback server playing the edge: it
//! answers 200 when the value the (fake) injector sends is accepted by the (fake)
//! acceptor and 403 otherwise, so a wrong rotation order would show as failed requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::*;
use crate::config::Timing;
use crate::progress::Quiet;
use crate::rotation::fake::World;

/// Serves `answer(path)` on a loopback port until the runtime ends; returns the base URL.
async fn serve(answer: Arc<dyn Fn(&str) -> u16 + Send + Sync>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let status = answer(req.uri().path());
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from_static(b"x")))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn rotation(world: &World, progress: Box<dyn Progress>) -> Rotation {
    let timing = Timing {
        acceptor_settle: Duration::from_millis(300),
        dual_accept_window: Duration::from_millis(400),
        cloudfront_deploy_timeout: Duration::from_secs(5),
    };
    Rotation::new("fake", Box::new(world.clone()), timing)
        .with_acceptor(world.acceptor(0))
        .with_injector(world.injector(0))
        .with_progress(progress)
}

fn options() -> Options {
    Options {
        rps: 50,
        before: Duration::from_millis(200),
        after: Duration::from_millis(200),
        timeout: Duration::from_secs(20),
        request_timeout: Duration::from_secs(2),
    }
}

fn probes(base: &str) -> Vec<Probe> {
    vec![
        Probe {
            url: format!("{base}/edge"),
            expect: None,
            direct: false,
            expect_accepted: None,
        },
        Probe {
            url: format!("{base}/direct"),
            expect: None,
            direct: true,
            expect_accepted: None,
        },
    ]
}

/// The edge and origin as the fake world stands: the edge sends the injector's value, the
/// origin accepts it if the acceptor does; a direct request answers `direct`.
fn faithful(world: &World, direct: u16) -> Arc<dyn Fn(&str) -> u16 + Send + Sync> {
    let world = world.clone();
    Arc::new(move |path: &str| {
        if path == "/direct" {
            return direct;
        }
        let s = world.state();
        if s.sent.iter().all(|v| s.accepted[0].contains(v)) {
            200
        } else {
            403
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_rotation_passes_with_every_phase_counted() {
    let (world, _) = World::new(1, 1);
    let base = serve(faithful(&world, 403)).await;
    let drill = Drill::new(&probes(&base), options()).unwrap();
    let rotation = rotation(&world, drill.progress(Box::new(Quiet)));
    let report = drill.run(&rotation).await;
    assert!(report.passed, "{}", report.text());
    assert!(report.edge.sent >= 50, "{}", report.text());
    assert_eq!(report.edge.sent, report.edge.ok);
    assert_eq!(report.direct.sent, report.direct.rejected);
    let phases: Vec<&str> = report.phases.iter().map(|p| p.phase.name()).collect();
    for wanted in ["before", "settle", "window", "after"] {
        assert!(phases.contains(&wanted), "{wanted}: {}", report.text());
    }
    // The world really rotated: a new current, the old one pruned.
    assert!(world.state().stage("AWSPREVIOUS").is_none());
    let junit = report.junit();
    assert!(junit.contains("failures=\"0\""), "{junit}");
    assert!(report.text().contains("PASSED"), "{}", report.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_gives_the_evidence_the_prune_saw() {
    use crate::rotation::fake::FakeWitness;
    let (world, _) = World::new(1, 1);
    let base = serve(faithful(&world, 403)).await;
    let drill = Drill::new(&probes(&base), options()).unwrap();
    // Quiet (a busy read would hold the drill for a real poll interval; the waiting is
    // tested in rotation::evidence_tests on a paused clock).
    let witness = FakeWitness::new(&[(30, 0)]);
    let settings = crate::config::Evidence {
        sources: Vec::new(),
        quiet_period: Duration::from_secs(120),
        timeout: Duration::from_secs(240),
        emf_interval: Duration::from_secs(1),
        ingestion_margin: Duration::ZERO,
    };
    let rotation = rotation(&world, drill.progress(Box::new(Quiet)))
        .with_evidence(vec![Box::new(witness)], settings);
    let report = drill.run(&rotation).await;
    assert!(report.passed, "{}", report.text());
    let evidence = report.evidence.as_ref().expect("the prune's evidence");
    assert!(evidence.quiet());
    assert_eq!(evidence.sources[0].current.total, 30);
    let text = report.text();
    assert!(
        text.contains("the prune's evidence over the last 2m 1s"),
        "{text}"
    );
    assert!(text.contains("fake cloudwatch: AWSCURRENT"), "{text}");
    assert!(
        text.contains("accepted 30 (cloudfront 30)") && text.contains(": quiet"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_request_let_through_fails_the_drill() {
    let (world, _) = World::new(1, 1);
    let base = serve(faithful(&world, 200)).await;
    let drill = Drill::new(&probes(&base), options()).unwrap();
    let rotation = rotation(&world, drill.progress(Box::new(Quiet)));
    let report = drill.run(&rotation).await;
    assert!(!report.passed);
    assert_eq!(report.direct.let_through, report.direct.sent);
    assert!(report.text().contains("FAILED"), "{}", report.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_valid_requests_fail_the_drill_in_their_phase() {
    let (world, _) = World::new(1, 1);
    // An edge that already sends a value nobody accepts: every request is rejected, through
    // the edge as well as direct.
    let base = serve(Arc::new(|_: &str| 403)).await;
    let drill = Drill::new(&probes(&base), options()).unwrap();
    let rotation = rotation(&world, drill.progress(Box::new(Quiet)));
    let report = drill.run(&rotation).await;
    assert!(!report.passed);
    assert_eq!(report.edge.rejected, report.edge.sent);
    let before = &report.phases[0];
    assert_eq!(before.phase, Phase::Before);
    assert!(before.edge.rejected > 0);
    let junit = report.junit();
    assert!(
        junit.contains("<failure message=\"") && junit.contains("during before"),
        "{junit}"
    );
}

#[test]
fn a_drill_without_an_edge_probe_is_refused() {
    let only_direct = vec![Probe {
        url: "http://127.0.0.1:1/".into(),
        expect: None,
        direct: true,
        expect_accepted: None,
    }];
    let problems = Drill::new(&only_direct, options()).err().unwrap();
    assert!(problems[0].contains("at least one probe"), "{problems:?}");
}
