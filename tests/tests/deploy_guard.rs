//! The guarded stack deploy (`scripts/deploy-stack` with `edgeguard-sync guard`): the real
//! script and the real `edgeguard-sync` against the emulator's Secrets Manager, WAF, API
//! Gateway and CloudFront. moto cannot deploy the reference template (ECS, the WAF
//! association, …), so the `aws` CLI is a double (`fake_aws`): it records every call and,
//! on `cloudformation deploy`, does to the emulator what the test asks CloudFormation to
//! have done (try a rotation meanwhile; write over a field the rotator owns).

use std::path::{Path, PathBuf};
use std::process::Command;

use edgeguard_tests::world::{TIMING, World};
use edgeguard_tests::{moto, secret_like};

/// A rotation's token (ClientRequestToken) per attempt: a rolled-back version keeps its id.
fn token(n: u8) -> String {
    format!("0d9c8b7a-6f5e-4d3c-9b2a-1f0e9d8c7b{n:02x}")
}

/// The `aws` double: one JSON line per call in `calls.jsonl` beside it.
fn fake_aws(dir: &Path) -> PathBuf {
    let path = dir.join("aws");
    let script = format!(
        r#"#!{python}
import json, os, subprocess, sys
import boto3
here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
call = {{"args": args}}
code = 0
if args[:2] == ["cloudformation", "describe-stacks"]:
    code = 0 if os.environ.get("FAKE_STACK_EXISTS", "1") == "1" else 255
elif args[:2] == ["cloudformation", "deploy"]:
    if os.environ.get("FAKE_DEPLOY_TRIES_A_ROTATION") == "1":
        r = subprocess.run([os.environ["EDGEGUARD_SYNC"], "--config", os.environ["FAKE_SYNC_CONFIG"],
                            "step", "create", "--token", "{during}"], capture_output=True, text=True)
        call["rotation"] = {{"code": r.returncode, "stderr": r.stderr}}
    if os.environ.get("FAKE_DEPLOY_WRITES_OVER") == "1":
        # The tests point these at no file (the SDK must not read a developer's); botocore
        # refuses a missing one.
        for key in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            os.environ.pop(key, None)
        api = boto3.client("apigateway", region_name=os.environ["AWS_REGION"])
        api.update_stage(restApiId=os.environ["FAKE_REST_API"], stageName="prod",
                         patchOperations=[{{"op": "replace", "path": "/variables/originVerify", "value": "N" * 43}}])
    code = int(os.environ.get("FAKE_DEPLOY_EXIT", "0"))
with open(os.path.join(here, "calls.jsonl"), "a") as f:
    f.write(json.dumps(call) + "\n")
sys.exit(code)
"#,
        python = moto::python().display(),
        during = token(0xff),
    );
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn calls(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("calls.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The first two words of each call: `cloudformation deploy`, …
fn verbs(dir: &Path) -> Vec<String> {
    calls(dir)
        .iter()
        .map(|c| {
            let a = c["args"].as_array().unwrap();
            format!("{} {}", a[0].as_str().unwrap(), a[1].as_str().unwrap())
        })
        .collect()
}

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs scripts/deploy-stack against the world with the double: (exit code, output).
fn deploy(world: &World, aws_dir: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(repository().join("scripts/deploy-stack"));
    command
        .args(["--config"])
        .arg(&world.config)
        .args(["--stack-name", "orders", "--holder", "test deploy", "--"])
        .args(["--template-file", "deploy/cloudformation/edgeguard.yaml"])
        .env_clear()
        .envs(world.moto.sdk_env())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_CLI", fake_aws(aws_dir))
        .env("EDGEGUARD_SYNC", edgeguard_tests::world::sync_binary())
        .env("FAKE_SYNC_CONFIG", &world.config)
        .envs(env.iter().copied());
    let out = command.output().expect("run scripts/deploy-stack");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_is_updated_only_between_rotations_and_under_the_lock() {
    let v0 = secret_like('0');
    let world = World::create(&v0).await;

    // During a rotation: refused, and the CLI is never asked to deploy.
    let (code, _, err) = world.sync(&["step", "create", "--token", &token(1)]);
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = deploy(&world, dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("a rotation is under way"), "{out}");
    assert_eq!(
        verbs(dir.path()),
        ["cloudformation describe-stacks"],
        "{out}"
    );
    let (code, _, err) = world.sync(&["rollback"]);
    assert_eq!(code, 0, "{err}");

    // In the dual-accept window: refused too.
    world.set_timing(&TIMING.replace(
        "dual_accept_window = \"2s\"",
        "dual_accept_window = \"10m\"",
    ));
    let (code, _, err) = world.sync(&["rotate", "--yes", "--skip-prune"]);
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = deploy(&world, dir.path(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not pruned"), "{out}");
    assert_eq!(verbs(dir.path()), ["cloudformation describe-stacks"]);

    // Pruned: deployed under the lock, which a rotation tried meanwhile respects; the
    // stack policy lifted for the update and put back after it; the lock released.
    let (code, _, err) = world.sync(&["prune", "--force"]);
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = deploy(&world, dir.path(), &[("FAKE_DEPLOY_TRIES_A_ROTATION", "1")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        verbs(dir.path()),
        [
            "cloudformation describe-stacks",
            "cloudformation set-stack-policy",
            "cloudformation deploy",
            "cloudformation set-stack-policy"
        ]
    );
    let calls = calls(dir.path());
    let rotation = &calls[2]["rotation"];
    assert_eq!(rotation["code"], 1, "{rotation}");
    assert!(
        rotation["stderr"]
            .as_str()
            .unwrap()
            .contains("deploy lock (test deploy"),
        "{rotation}"
    );
    let deploy_args: Vec<&str> = calls[2]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        deploy_args.contains(&"--no-fail-on-empty-changeset"),
        "{deploy_args:?}"
    );
    let restored = calls[3]["args"].to_string();
    assert!(restored.contains("stack-policy.json"), "{restored}");
    assert!(
        world.staged().await.pending.is_none(),
        "no rotation started"
    );
    // The lock is gone: a rotation runs now.
    let (code, _, err) = world.sync(&["step", "create", "--token", &token(2)]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = world.sync(&["rollback"]);
    assert_eq!(code, 0, "{err}");

    // A failed deploy: the policy is put back and the lock released all the same.
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = deploy(&world, dir.path(), &[("FAKE_DEPLOY_EXIT", "255")]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        verbs(dir.path()).last().unwrap(),
        "cloudformation set-stack-policy"
    );
    let (code, _, err) = world.sync(&["step", "create", "--token", &token(3)]);
    assert_eq!(code, 0, "lock released: {err}");
    let (code, _, err) = world.sync(&["rollback"]);
    assert_eq!(code, 0, "{err}");

    // An update that wrote over the REST stage variable with a value that is no staged
    // version's (what CloudFormation does with a stale or edited value): the stage sends
    // what no acceptor takes. The script fails loudly on the drift. (moto's UpdateSecret
    // can leave AWSCURRENT on two versions, so a promoted secret is not the case used.)
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = deploy(
        &world,
        dir.path(),
        &[
            ("FAKE_DEPLOY_WRITES_OVER", "1"),
            ("FAKE_REST_API", &world.rest_api_id),
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("DRIFT"), "{out}");
    assert!(!out.contains(&v0), "never a value in the output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_stack_is_created_then_protected() {
    let world = World::create(&secret_like('1')).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = deploy(&world, dir.path(), &[("FAKE_STACK_EXISTS", "0")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        verbs(dir.path()),
        [
            "cloudformation describe-stacks",
            "cloudformation deploy",
            "cloudformation set-stack-policy"
        ]
    );
}
