//! The Secrets Manager source against the local emulator (moto), through the real SDK.

use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use edgeguard_tests::client;
use edgeguard_tests::moto::Moto;
use edgeguard_tests::proxy::{Builder, Proxy};
use edgeguard_tests::upstream::Upstream;
use edgeguard_tests::{poll, secret_like};

const H: &str = "x-origin-verify";
const NAME: &str = "edgeguard/origin-verify";
const LIMIT: Duration = Duration::from_secs(20);

fn doc(value: &str) -> String {
    format!(r#"{{"header":"x-origin-verify","value":"{value}"}}"#)
}

async fn create(sm: &Client, secret_string: &str) -> String {
    let out = sm
        .create_secret()
        .name(NAME)
        .secret_string(secret_string)
        .send()
        .await
        .unwrap();
    out.version_id().unwrap().to_owned()
}

async fn put_pending(sm: &Client, secret_string: &str) -> String {
    let out = sm
        .put_secret_value()
        .secret_id(NAME)
        .secret_string(secret_string)
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    out.version_id().unwrap().to_owned()
}

/// What a rotation's finish step does: AWSCURRENT to `to` (the old one becomes AWSPREVIOUS).
async fn make_current(sm: &Client, to: &str, from: &str) {
    sm.update_secret_version_stage()
        .secret_id(NAME)
        .version_stage("AWSCURRENT")
        .move_to_version_id(to)
        .remove_from_version_id(from)
        .send()
        .await
        .unwrap();
}

async fn detach(sm: &Client, stage: &str, from: &str) {
    sm.update_secret_version_stage()
        .secret_id(NAME)
        .version_stage(stage)
        .remove_from_version_id(from)
        .send()
        .await
        .unwrap();
}

async fn start_proxy(moto: &Moto, upstream: &Upstream) -> Proxy {
    Builder::new(&format!("secretsmanager:{NAME}"))
        .arg("--upstream", &upstream.url())
        .arg("--refresh-interval", "300ms")
        .envs(&moto.sdk_env())
        .spawn()
        .await
}

async fn status(proxy: &Proxy, value: &str) -> u16 {
    client::get(proxy.enforcing(), "/", &[(H, value)])
        .await
        .status
}

async fn wait_status(proxy: &Proxy, value: &str, want: u16, what: &str) {
    poll(LIMIT, what, || async {
        (status(proxy, value).await == want).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accepted_set_follows_the_stages_of_a_rotation() {
    let moto = Moto::start().await;
    let sm = moto.client();
    let upstream = Upstream::start().await;
    let (old, new) = (secret_like('o'), secret_like('n'));
    let v1 = create(&sm, &doc(&old)).await;
    let proxy = start_proxy(&moto, &upstream).await;
    proxy.wait_ready().await;
    assert_eq!(status(&proxy, &old).await, 200);
    assert_eq!(status(&proxy, &new).await, 403);

    // create: AWSPENDING exists → accepted alongside AWSCURRENT after the next refresh.
    let v2 = put_pending(&sm, &doc(&new)).await;
    wait_status(&proxy, &new, 200, "the pending value to be accepted").await;
    assert_eq!(status(&proxy, &old).await, 200);

    // finish: AWSCURRENT moves; the old value stays accepted as AWSPREVIOUS.
    make_current(&sm, &v2, &v1).await;
    detach(&sm, "AWSPENDING", &v2).await;
    poll(LIMIT, "the old value to count as previous", || async {
        assert_eq!(
            status(&proxy, &old).await,
            200,
            "the old value must stay accepted"
        );
        let m = proxy.metrics().await;
        m.contains("edgeguard_accepted_matches_total{accepted=\"previous\"}")
            .then_some(())
    })
    .await;
    assert_eq!(status(&proxy, &new).await, 200);

    // prune: AWSPREVIOUS detached → rejected after the next refresh.
    detach(&sm, "AWSPREVIOUS", &v1).await;
    wait_status(&proxy, &old, 403, "the pruned value to be rejected").await;
    assert_eq!(status(&proxy, &new).await, 200);

    let m = proxy.metrics().await;
    for stage in ["current", "pending", "previous"] {
        let series = format!("edgeguard_accepted_matches_total{{accepted=\"{stage}\"}}");
        assert!(
            proxy.metric(&series).await >= 1.0,
            "no match counted as {stage}:\n{m}"
        );
    }
    assert!(!m.contains(&old) && !m.contains(&new));
    assert!(!proxy.output().contains(&old) && !proxy.output().contains(&new));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_emulator_keeps_the_last_good_set_and_recovery_follows() {
    let mut moto = Moto::start().await;
    let port = moto.port();
    let upstream = Upstream::start().await;
    let a = secret_like('a');
    create(&moto.client(), &doc(&a)).await;
    let proxy = start_proxy(&moto, &upstream).await;
    proxy.wait_ready().await;

    let errors = "edgeguard_secret_refresh_total{result=\"error\"}";
    moto.stop();
    poll(LIMIT, "failed refreshes to be counted", || async {
        (proxy.metric(errors).await >= 2.0).then_some(())
    })
    .await;
    assert_eq!(
        status(&proxy, &a).await,
        200,
        "the last good set stays while AWS is unreachable"
    );
    assert_eq!(status(&proxy, "guess").await, 403);
    assert_eq!(proxy.ready_status().await, 200);
    assert!(proxy.output().contains("secret refresh failed"));

    // Back on the same port (a fresh emulator: the secret is created again, new value).
    let moto = Moto::start_on(port).await;
    let b = secret_like('b');
    create(&moto.client(), &doc(&b)).await;
    wait_status(
        &proxy,
        &b,
        200,
        "the proxy to recover and read the new value",
    )
    .await;
    assert_eq!(status(&proxy, &a).await, 403);
    assert!(proxy.output().contains("secret source readable again"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_that_cannot_be_parsed_never_open_the_door() {
    let moto = Moto::start().await;
    let sm = moto.client();
    let upstream = Upstream::start().await;
    let v1 = create(&sm, r#"{"value": "unterminated"#).await;
    let proxy = start_proxy(&moto, &upstream).await;
    // Nothing usable: fail closed.
    poll(LIMIT, "a failed refresh", || async {
        (proxy
            .metric("edgeguard_secret_refresh_total{result=\"error\"}")
            .await
            >= 1.0)
            .then_some(())
    })
    .await;
    assert_eq!(proxy.ready_status().await, 503);
    assert_eq!(client::get(proxy.enforcing(), "/", &[]).await.status, 503);
    assert_eq!(status(&proxy, "unterminated").await, 503);

    // A good version arrives: ready.
    let good = secret_like('g');
    let v2 = put_pending(&sm, &doc(&good)).await;
    make_current(&sm, &v2, &v1).await;
    proxy.wait_ready().await;
    assert_eq!(status(&proxy, &good).await, 200);

    // Every stage now points at unparseable versions: the last good set stays.
    let v3 = put_pending(&sm, "not a valid value").await;
    make_current(&sm, &v3, &v2).await;
    let v4 = put_pending(&sm, r#"{"header":"x-origin-verify"}"#).await;
    make_current(&sm, &v4, &v3).await;
    let errors = proxy
        .metric("edgeguard_secret_refresh_total{result=\"error\"}")
        .await;
    poll(LIMIT, "the unusable versions to be reported", || async {
        (proxy
            .metric("edgeguard_secret_refresh_total{result=\"error\"}")
            .await
            > errors)
            .then_some(())
    })
    .await;
    assert_eq!(status(&proxy, &good).await, 200, "the last good set stays");
    assert_eq!(
        client::get(proxy.enforcing(), "/", &[]).await.status,
        403,
        "never empty = open"
    );
    assert!(
        proxy
            .output()
            .contains("skipping a secret version that cannot be used")
    );
    assert!(!proxy.output().contains("not a valid value"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_for_another_header_is_refused_as_a_configuration_error() {
    let moto = Moto::start().await;
    let upstream = Upstream::start().await;
    let v = secret_like('x');
    create(
        &moto.client(),
        &format!(r#"{{"header":"x-other-header","value":"{v}"}}"#),
    )
    .await;
    let proxy = start_proxy(&moto, &upstream).await;
    poll(LIMIT, "the mismatch to be reported", || {
        std::future::ready(proxy.output().contains("not the configured").then_some(()))
    })
    .await;
    assert_eq!(proxy.ready_status().await, 503);
    assert_eq!(status(&proxy, &v).await, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_secret_keeps_the_last_good_set() {
    let moto = Moto::start().await;
    let sm = moto.client();
    let upstream = Upstream::start().await;
    let a = secret_like('a');
    create(&sm, &a).await; // a plain string is read as the value
    let proxy = start_proxy(&moto, &upstream).await;
    proxy.wait_ready().await;
    assert_eq!(status(&proxy, &a).await, 200);
    sm.delete_secret().secret_id(NAME).send().await.unwrap();
    poll(LIMIT, "the deletion to be reported", || {
        std::future::ready(
            proxy
                .output()
                .contains("secret refresh failed")
                .then_some(()),
        )
    })
    .await;
    assert_eq!(status(&proxy, &a).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_region_and_no_arn_is_a_configuration_error() {
    let (code, out) = edgeguard_tests::proxy::run_to_exit(
        &[
            "--secret-source",
            "secretsmanager:edgeguard/x",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ],
    );
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("AWS_REGION"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_never_appear_in_trace_logs_of_the_sdk_and_the_proxy() {
    let moto = Moto::start().await;
    let sm = moto.client();
    let upstream = Upstream::start().await;
    let (current, pending) = (secret_like('c'), secret_like('p'));
    create(&sm, &doc(&current)).await;
    let proxy = Builder::new(&format!("secretsmanager:{NAME}"))
        .arg("--upstream", &upstream.url())
        .arg("--refresh-interval", "300ms")
        .env("EDGEGUARD_LOG", "trace")
        .envs(&moto.sdk_env())
        .spawn()
        .await;
    proxy.wait_ready().await;
    put_pending(&sm, &doc(&pending)).await;
    wait_status(&proxy, &pending, 200, "the pending value to be accepted").await;
    assert_eq!(status(&proxy, &current).await, 200);
    let output = proxy.output();
    // The SDK logs (its TRACE events are dropped: they print whole responses).
    assert!(
        output.contains("\"target\":\"aws_smithy_runtime"),
        "the SDK's debug logs are in the output"
    );
    assert!(
        !output.contains(&current) && !output.contains(&pending),
        "a value leaked into the logs"
    );
}
