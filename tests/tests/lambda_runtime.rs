//! The rotation Lambda binary driven through a Lambda Runtime API emulator exactly as
//! Lambda and Secrets Manager call it: RotateSecret's configuration test (testSecret on a
//! value-less AWSPENDING), the four steps in order with a retry, a deadline too short for
//! the settle time, the status action; JSON log lines without colour escapes, no value in
//! any of them.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeguard_tests::lambda_runtime::{Outcome, RuntimeApi, lambda_env};
use edgeguard_tests::world::{SECRET, TIMING, World};
use edgeguard_tests::{capture_output, closed_port, secret_like};
use serde_json::json;

const FIFTEEN_MINUTES: Duration = Duration::from_secs(900);

/// The bootstrap under test: the workspace's build, or `EDGEGUARD_LAMBDA_BIN` (the zip's
/// bootstrap for another architecture, which `EDGEGUARD_LAMBDA_RUNNER`, qemu-user, runs:
/// scripts/test checks the arm64 one so).
fn lambda_command() -> Command {
    let binary = std::env::var_os("EDGEGUARD_LAMBDA_BIN").map_or_else(
        || edgeguard_tests::proxy::beside_this_program("edgeguard-rotation-lambda"),
        std::path::PathBuf::from,
    );
    // A runner that cannot find it would exit at once and leave the test waiting for a
    // function that never asks for work: refuse up front (tests run in the crate's folder).
    assert!(
        binary.is_absolute() && binary.exists(),
        "EDGEGUARD_LAMBDA_BIN must be an absolute path to a bootstrap: {}",
        binary.display()
    );
    match std::env::var_os("EDGEGUARD_LAMBDA_RUNNER") {
        Some(runner) => {
            let mut command = Command::new(runner);
            command.arg(binary);
            command
        }
        None => Command::new(binary),
    }
}

struct Function {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(w: &World, api: &RuntimeApi, config: &str) -> Function {
    let mut command = lambda_command();
    command
        .env_clear()
        .envs(w.moto.sdk_env())
        .envs(lambda_env(api))
        .env("EDGEGUARD_SYNC_CONFIG", config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start the rotation Lambda");
    let output = capture_output(&mut child);
    Function { child, output }
}

fn event(step: &str, token: &str) -> serde_json::Value {
    let arn = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{SECRET}-AbCdEf");
    json!({"Step": step, "SecretId": arn, "ClientRequestToken": token})
}

async fn ok(api: &RuntimeApi, event: serde_json::Value) -> serde_json::Value {
    let (outcome, in_time) = api.invoke(event.clone(), FIFTEEN_MINUTES).await;
    assert!(in_time);
    match outcome {
        Outcome::Response(v) => v,
        other => panic!("{event}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_holds_the_rotation_contract_as_lambda_runs_it() {
    let v0 = secret_like('0');
    let w = World::create(&v0).await;
    let api = RuntimeApi::start().await;

    // RotateSecret, as configuring rotation does: Secrets Manager registers a token as a
    // value-less AWSPENDING and runs testSecret on it (the configuration test). moto
    // leaves exactly that when it cannot run the function (and answers that it could not
    // find it, which is beside the point here).
    let sm = aws_sdk_secretsmanager::Client::new(&w.sdk);
    let _ = sm
        .rotate_secret()
        .secret_id(SECRET)
        .rotation_lambda_arn("arn:aws:lambda:us-east-1:123456789012:function:edgeguard-rotation")
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(30)
                .build(),
        )
        .send()
        .await;
    let stages = sm.describe_secret().secret_id(SECRET).send().await.unwrap();
    let token = stages
        .version_ids_to_stages()
        .unwrap()
        .iter()
        .find(|(_, s)| s.iter().any(|x| x == "AWSPENDING"))
        .map(|(id, _)| id.clone())
        .expect("a registered AWSPENDING");

    // With a probe that cannot answer: the configuration test must not probe.
    let probing = format!(
        "{}\n[[probe]]\nurl = \"http://{}/\"\ndirect = true\n",
        w.toml(TIMING),
        closed_port()
    );
    let f = start(&w, &api, &probing);
    let answer = ok(&api, event("testSecret", &token)).await;
    assert!(
        answer.as_str().unwrap().contains("nothing to probe"),
        "{answer}"
    );
    drop(f);

    let f = start(&w, &api, &w.toml(TIMING));
    ok(&api, event("createSecret", &token)).await;
    // A timeout shorter than the settle wait and the margin: refused, not killed.
    let (outcome, in_time) = api
        .invoke(event("setSecret", &token), Duration::from_secs(10))
        .await;
    assert!(in_time, "answered before the deadline");
    assert!(
        matches!(&outcome, Outcome::Error { error_type, message } if error_type == "NonRetryable" && message.contains("timeout")),
        "{outcome:?}"
    );
    for step in ["setSecret", "testSecret", "finishSecret"] {
        let answer = ok(&api, event(step, &token)).await;
        assert!(
            answer.as_str().unwrap().contains("done"),
            "{step}: {answer}"
        );
    }
    // Secrets Manager retries a finishSecret it did not hear back from.
    let again = ok(&api, event("finishSecret", &token)).await;
    assert!(
        again.as_str().unwrap().contains("already AWSCURRENT"),
        "{again}"
    );
    let staged = w.staged().await;
    assert_eq!(staged.previous.as_deref(), Some(v0.as_str()));
    assert_eq!(staged.pending, None);
    let v1 = staged.current.unwrap();

    // The status action answers with the report itself, a JSON object.
    let report = ok(&api, json!({"action": "status"})).await;
    assert!(report.is_object(), "{report}");
    assert_eq!(report["drift"], json!([]), "{report}");

    let lines = f.output.lock().unwrap().clone();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(
            !line.contains('\u{1b}'),
            "a colour escape in a log line: {line}"
        );
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.is_object()),
            "not a JSON log line: {line}"
        );
        assert!(
            !line.contains(&v0) && !line.contains(&v1),
            "a value in the log: {line}"
        );
    }
}
