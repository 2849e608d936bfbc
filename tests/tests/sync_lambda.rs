//! The rotation Lambda's handler, called directly with rotation events against the
//! emulator, in the order Secrets Manager calls the steps (moto cannot run the function
//! itself here).
//!
//! Secrets Manager registers the rotation's token as an AWSPENDING version without a
//! value before invoking createSecret. moto 5.2 cannot: without a function ARN its
//! RotateSecret makes the new version AWSCURRENT at once, and with one it must run the
//! function. So here rotation is enabled with `RotateSecret(RotateImmediately=false)`
//! (moto copies the current value into a new AWSCURRENT version: the value in force does
//! not change), and the token is registered by the library's `create` (what `step create`
//! does). createSecret on a value-less registered token is covered by the unit tests
//! (`edgeguard_sync::rotation::tests`, fake store).

use std::time::Duration;

use edgeguard_sync::config::Config;
use edgeguard_sync::lambda::{self, Invocation, LambdaError};
use edgeguard_sync::progress::Quiet;
use edgeguard_sync::rotation::Rotation;
use edgeguard_tests::secret_like;
use edgeguard_tests::world::{SECRET, World};

const FIFTEEN_MINUTES: Duration = Duration::from_secs(900);

async fn rotation(w: &World) -> Rotation {
    let config = Config::from_file(&w.config).unwrap();
    edgeguard_sync::aws::rotation(&w.sdk, &config, Box::new(Quiet))
        .await
        .unwrap()
}

fn event(step: &str, token: &str) -> Invocation {
    let arn = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{SECRET}-AbCdEf");
    serde_json::from_value(
        serde_json::json!({"Step": step, "SecretId": arn, "ClientRequestToken": token}),
    )
    .unwrap()
}

fn action(name: &str) -> Invocation {
    serde_json::from_value(serde_json::json!({ "action": name })).unwrap()
}

/// Turns rotation on (see the module comment), then registers `token` as AWSPENDING.
async fn start_rotation(w: &World, r: &Rotation, token: &str) {
    let sm = aws_sdk_secretsmanager::Client::new(&w.sdk);
    sm.rotate_secret()
        .secret_id(SECRET)
        .rotate_immediately(false)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await
        .unwrap();
    r.create(token).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_steps_as_secrets_manager_calls_them_then_the_scheduled_prune() {
    let v0 = secret_like('0');
    let w = World::create(&v0).await;
    let r = rotation(&w).await;
    let token = "3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a";
    start_rotation(&w, &r, token).await;
    let v1 = w.staged().await.pending.expect("a pending value");
    lambda::handle(&r, event("createSecret", token), FIFTEEN_MINUTES)
        .await
        .unwrap();
    // A repeated event: same version, same value.
    lambda::handle(&r, event("createSecret", token), FIFTEEN_MINUTES)
        .await
        .unwrap();
    assert_eq!(w.staged().await.pending.as_deref(), Some(v1.as_str()));
    w.assert_invariant("after createSecret").await;

    lambda::handle(&r, event("setSecret", token), FIFTEEN_MINUTES)
        .await
        .unwrap();
    assert!(w.injected().await.all_send(&v1));
    w.assert_invariant("after setSecret").await;
    // Secrets Manager retries a step it thinks failed: nothing changes.
    lambda::handle(&r, event("setSecret", token), FIFTEEN_MINUTES)
        .await
        .unwrap();
    w.assert_invariant("after a retried setSecret").await;

    lambda::handle(&r, event("testSecret", token), FIFTEEN_MINUTES)
        .await
        .unwrap();
    lambda::handle(&r, event("finishSecret", token), FIFTEEN_MINUTES)
        .await
        .unwrap();
    let staged = w.staged().await;
    assert_eq!(
        (staged.current.as_deref(), staged.previous.as_deref()),
        (Some(v1.as_str()), Some(v0.as_str()))
    );
    w.assert_invariant("after finishSecret").await;
    let again = lambda::handle(&r, event("finishSecret", token), FIFTEEN_MINUTES)
        .await
        .unwrap();
    let again = again.as_str().unwrap();
    assert!(again.contains("already AWSCURRENT"), "{again}");

    // The scheduled prune: inside the window, nothing; after it, narrowed.
    let early = lambda::handle(&r, action("prune"), FIFTEEN_MINUTES)
        .await
        .unwrap();
    let early = early.as_str().unwrap();
    assert!(early.contains("window"), "{early}");
    let accepted = w.waf().await.0;
    assert!(
        accepted.contains(&v0) && accepted.contains(&v1),
        "both values until the prune"
    );
    tokio::time::sleep(Duration::from_secs(2)).await; // the configured 2 s window passing is the subject
    let done = lambda::handle(&r, action("prune"), FIFTEEN_MINUTES)
        .await
        .unwrap();
    assert_eq!(done, "prune: done");
    assert_eq!(w.waf().await.0, std::slice::from_ref(&v1));
    assert_eq!(w.staged().await.previous, None);
    w.assert_invariant("after the scheduled prune").await;
    let nothing = lambda::handle(&r, action("prune"), FIFTEEN_MINUTES)
        .await
        .unwrap();
    let nothing = nothing.as_str().unwrap();
    assert!(nothing.contains("nothing to prune"), "{nothing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_checks_refuse_what_the_rotation_contract_forbids() {
    let w = World::create(&secret_like('0')).await;
    let r = rotation(&w).await;
    // Rotation not enabled on the secret.
    let err = lambda::handle(
        &r,
        event("createSecret", "not-a-version-0000000000000000000"),
        FIFTEEN_MINUTES,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, LambdaError::NonRetryable(ref m) if m.contains("not enabled")),
        "{err}"
    );

    let token = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d";
    start_rotation(&w, &r, token).await;
    let err = lambda::handle(
        &r,
        event("setSecret", "not-a-version-0000000000000000000"),
        FIFTEEN_MINUTES,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, LambdaError::NonRetryable(ref m) if m.contains("not a version")),
        "{err}"
    );
    let err = lambda::handle(&r, event("rotateEverything", token), FIFTEEN_MINUTES)
        .await
        .unwrap_err();
    assert!(matches!(err, LambdaError::NonRetryable(_)));
    // A function timeout shorter than the settle time is a configuration error.
    lambda::handle(&r, event("createSecret", token), FIFTEEN_MINUTES)
        .await
        .unwrap();
    let err = lambda::handle(&r, event("setSecret", token), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LambdaError::NonRetryable(ref m) if m.contains("timeout")),
        "{err}"
    );
    w.assert_invariant("after the refusals").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_action_reports_without_values() {
    let v0 = secret_like('0');
    let w = World::create(&v0).await;
    let r = rotation(&w).await;
    let report = lambda::handle(&r, action("status"), FIFTEEN_MINUTES)
        .await
        .unwrap();
    // The report itself, as a JSON object (not a string holding JSON).
    assert!(report.is_object(), "{report}");
    assert_eq!(report["drift"], serde_json::json!([]), "{report}");
    assert!(!report.to_string().contains(&v0));
}

/// Embedded-metric lines as the proxy writes them (its own exporter), for `version_id`
/// under `stage`, `n` requests through CloudFront, stamped `ago` before now.
fn emf_lines(namespace: &str, version_id: &str, stage: &str, n: u64, ago: Duration) -> String {
    use edgeguard_proxy::edge::Edge;
    use edgeguard_proxy::metrics::Metrics;
    use edgeguard_proxy::metrics::emf::EmfExporter;
    let metrics = Metrics::default();
    for _ in 0..n {
        metrics
            .accept_counts(version_id, stage)
            .record(Edge::CloudFront);
    }
    let at = std::time::SystemTime::now() - ago;
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    EmfExporter::new(namespace).records(&metrics, ms).join("\n")
}

/// With `[evidence]`, the scheduled prune postpones (not an error: the next schedule tries
/// again) while AWSPREVIOUS is in use, and prunes once the quiet period holds none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_prune_waits_for_the_evidence() {
    use edgeguard_tests::emf::CloudWatchDouble;
    // The window is not the subject: zero, so the gate alone decides.
    let timing = "\n[timing]\nacceptor_settle = \"1s\"\ndual_accept_window = \"0s\"\ncloudfront_deploy_timeout = \"20s\"\n";
    let evidence = "\n[evidence]\nnamespace = \"ns\"\nquiet_period = \"8m\"\nemf_interval = \"1s\"\ningestion_margin = \"3s\"\n";
    let w = World::create_with(&secret_like('0'), &format!("{timing}{evidence}")).await;
    let (code, _, err) = w.sync(&["rotate", "--yes", "--skip-prune"]);
    assert_eq!(code, 0, "{err}");
    let config = Config::from_file(&w.config).unwrap();
    let settings = config.evidence.clone().unwrap();
    let with = async |double: &CloudWatchDouble| {
        edgeguard_sync::aws::rotation(&w.sdk, &config, Box::new(Quiet))
            .await
            .unwrap()
            .with_evidence(vec![Box::new(double.clone())], settings.clone())
    };
    let staged = rotation(&w).await.staged().await.unwrap();
    let current = staged.current.unwrap().0.id;
    let previous = staged.previous.unwrap().0.id;

    // A request with the old value 10 s ago: postponed, nothing narrowed. (Records
    // shipped long ago: no ingestion delay left.)
    let busy = CloudWatchDouble::new("ns").with_delay(Duration::ZERO);
    busy.ship(
        &emf_lines("ns", &current, "current", 40, Duration::ZERO),
        &mut 0,
    );
    busy.ship(
        &emf_lines("ns", &previous, "previous", 1, Duration::from_secs(10)),
        &mut 0,
    );
    let answer = lambda::handle(&with(&busy).await, action("prune"), FIFTEEN_MINUTES)
        .await
        .unwrap();
    let answer = answer.as_str().unwrap();
    assert!(answer.starts_with("prune: postponed"), "{answer}");
    assert!(answer.contains("accepted 1 (cloudfront 1)"), "{answer}");
    assert_eq!(w.waf().await.0.len(), 2, "both values still accepted");

    // AWSCURRENT only in the window's first minutes, none in its newest 5 (the freshness
    // span): its proxies stopped reporting, so the silence about the old value proves
    // nothing: postponed too.
    // The window reaches back 8m 4s (in whole minutes); freshness, the newest 5m of what
    // CloudWatch can show. A record 6m 34s ago is in the window and stale, whatever
    // minute the read falls in.
    let stale = CloudWatchDouble::new("ns").with_delay(Duration::ZERO);
    stale.ship(
        &emf_lines("ns", &current, "current", 40, Duration::from_secs(394)),
        &mut 0,
    );
    let answer = lambda::handle(&with(&stale).await, action("prune"), FIFTEEN_MINUTES)
        .await
        .unwrap();
    let answer = answer.as_str().unwrap();
    assert!(answer.contains("stopped reporting"), "{answer}");
    assert_eq!(w.waf().await.0.len(), 2, "both values still accepted");

    // Its last request ten minutes ago (before the 8-minute quiet period and the blind
    // part, in whole minutes): pruned.
    let quiet = CloudWatchDouble::new("ns").with_delay(Duration::ZERO);
    quiet.ship(
        &emf_lines("ns", &current, "current", 40, Duration::ZERO),
        &mut 0,
    );
    quiet.ship(
        &emf_lines("ns", &previous, "previous", 5, Duration::from_secs(600)),
        &mut 0,
    );
    let done = lambda::handle(&with(&quiet).await, action("prune"), FIFTEEN_MINUTES)
        .await
        .unwrap();
    assert_eq!(done, "prune: done");
    assert_eq!(w.waf().await.0.len(), 1);
    assert_eq!(w.staged().await.previous, None);
}
