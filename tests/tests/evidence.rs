//! The evidence gate end to end on one machine: a real proxy reading Secrets Manager in
//! the emulator writes embedded-metric records; a CloudWatch double ingests them as
//! CloudWatch Logs would (`edgeguard_tests::emf`, which says why not moto); a real
//! `Rotation` built from the sync configuration, against moto's Secrets Manager and WAF,
//! refuses to prune and then prunes as the counts say.

use std::time::{Duration, Instant};

use edgeguard_sync::config::Config;
use edgeguard_sync::progress::Quiet;
use edgeguard_sync::rotation::Rotation;
use edgeguard_tests::emf::CloudWatchDouble;
use edgeguard_tests::proxy::{Builder, Proxy};
use edgeguard_tests::upstream::Upstream;
use edgeguard_tests::world::{HEADER, SECRET, TIMING, World};
use edgeguard_tests::{client, secret_like};

const NAMESPACE: &str = "edgeguard-test";
/// The shortest quiet period that proves anything (two minutes: CloudWatch sums whole
/// minutes), proxies writing every second, and a margin above the double's ingestion delay.
const EVIDENCE: &str = r#"
[evidence]
namespace = "edgeguard-test"
quiet_period = "2m"
timeout = "5m"
emf_interval = "1s"
ingestion_margin = "3s"
"#;

async fn send(proxy: &Proxy, value: &str, cloudfront: bool, n: usize) {
    for _ in 0..n {
        let mut fields = vec![(HEADER, value)];
        if cloudfront {
            fields.push(("x-amz-cf-id", "test-cf-id"));
        }
        assert_eq!(
            client::get(proxy.enforcing(), "/", &fields).await.status,
            200
        );
    }
}

async fn rotation(world: &World, cloudwatch: &CloudWatchDouble) -> Rotation {
    let config = Config::from_file(&world.config).unwrap();
    let settings = config.evidence.clone().unwrap();
    edgeguard_sync::aws::rotation(&world.sdk, &config, Box::new(Quiet))
        .await
        .unwrap()
        .with_evidence(vec![Box::new(cloudwatch.clone())], settings)
}

/// Prunes (forced past the window) until the refusal says `why`: records become metrics
/// only after the double's ingestion delay, so an earlier read may not show them yet.
async fn refused_for(rotation: &Rotation, why: &str) -> String {
    let start = Instant::now();
    loop {
        let e = rotation.prune(true).await.unwrap_err().to_string();
        if e.contains(why) {
            return e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never {why:?}: {e}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await; // the double's ingestion
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_refuses_while_the_old_value_is_used_and_narrows_once_quiet() {
    let v0 = secret_like('0');
    let world = World::create_with(&v0, &format!("{TIMING}{EVIDENCE}")).await;
    let (code, _, err) = world.sync(&["rotate", "--yes", "--skip-prune"]);
    assert_eq!(code, 0, "{err}");
    let v1 = world.staged().await.current.unwrap();

    // The binary reads CloudWatch itself; moto cannot answer its protocol, and an
    // unreadable witness must refuse, never count as quiet (fail closed).
    let (code, _, err) = world.sync(&["prune", "--force"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("GetMetricData failed"), "{err}");
    assert!(world.waf().await.0.contains(&v0));

    let cloudwatch = CloudWatchDouble::new(NAMESPACE);
    let rotation = rotation(&world, &cloudwatch).await;
    let upstream = Upstream::start().await;
    let proxy = Builder::new(&format!("secretsmanager:{SECRET}"))
        .arg("--upstream", &upstream.url())
        .arg("--emf", "stdout")
        .arg("--emf-interval", "1s")
        .arg("--emf-namespace", NAMESPACE)
        .envs(&world.moto.sdk_env())
        .spawn()
        .await;
    proxy.wait_ready().await;

    // No record yet: no proof that the fleet reports, so no narrowing.
    let e = rotation.prune(true).await.unwrap_err().to_string();
    assert!(e.contains("no proof that the proxies report"), "{e}");

    // A forgotten injector (through CloudFront) still sends the old value.
    send(&proxy, &v1, false, 5).await;
    send(&proxy, &v0, true, 3).await;
    let old_value_last_sent = Instant::now();
    let mut shipped = 0;
    let mut records = 0;
    let start = Instant::now();
    while records < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no EMF records: {}",
            proxy.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await; // polls the proxy's stdout
        records += cloudwatch.ship(&proxy.output(), &mut shipped);
    }
    let e = refused_for(&rotation, "AWSPREVIOUS still in use").await;
    assert!(e.contains("accepted 3 (cloudfront 3)"), "{e}");
    assert!(e.contains("accepted 5 (other 5)"), "{e}");
    assert!(world.waf().await.0.contains(&v0), "nothing narrowed");
    let status = edgeguard_sync::status::status(&rotation)
        .await
        .unwrap()
        .text();
    assert!(
        status.contains("WARNING: AWSPREVIOUS still in use: 3 request(s)"),
        "{status}"
    );
    for text in [&status, &e, &proxy.output()] {
        assert!(!text.contains(&v0) && !text.contains(&v1), "a value leaked");
    }

    // CloudWatch cannot answer for a moment: that is "cannot prove", never quiet.
    cloudwatch.answer_next_with("InternalError");
    let e = rotation.prune(true).await.unwrap_err().to_string();
    assert!(e.contains("InternalError"), "{e}");

    // The sender is fixed: only the current value from now on. Once a whole quiet period
    // (and the blind part after it) holds no request with the old value, prune narrows.
    let quiet_from = Instant::now();
    loop {
        assert!(
            quiet_from.elapsed() < Duration::from_secs(200),
            "never quiet"
        );
        send(&proxy, &v1, false, 2).await;
        tokio::time::sleep(Duration::from_secs(1)).await; // paces the traffic: one EMF interval
        cloudwatch.ship(&proxy.output(), &mut shipped);
        if quiet_from.elapsed() < Duration::from_secs(110) {
            continue;
        }
        match rotation.prune(true).await {
            Ok(()) => break,
            Err(e) => assert!(e.to_string().contains("still in use"), "{e}"),
        }
    }
    // Not before a whole period (2 min) without the old value: its records are stamped
    // when written, at or after the requests.
    assert!(old_value_last_sent.elapsed() >= Duration::from_secs(120));
    assert_eq!(world.waf().await.0, vec![v1.clone()]);
    assert_eq!(world.staged().await.previous, None);
}
