//! The command line: --check-config, exit 64 with every problem, and `healthcheck`.

use edgeguard_tests::fixture::Fixture;
use edgeguard_tests::proxy::{Builder, run_to_exit};

#[test]
fn check_config_accepts_a_good_configuration() {
    let (code, out) = run_to_exit(
        &["--check-config", "--secret-source", "env:ORIGIN"],
        &[("EDGEGUARD_LISTEN", "127.0.0.1:8000")],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("configuration ok"));
}

#[test]
fn every_problem_is_reported_at_once_with_exit_64() {
    let (code, out) = run_to_exit(
        &[
            "--check-config",
            "--idle-timeout",
            "soon",
            "--upstream",
            "ftp://x",
        ],
        &[
            ("EDGEGUARD_LISTEN", "port-eighty"),
            ("EDGEGUARD_MAX_HEADER_BYTES", "lots"),
        ],
    );
    assert_eq!(code, 64, "{out}");
    for key in [
        "--listen (EDGEGUARD_LISTEN)",
        "--upstream (EDGEGUARD_UPSTREAM)",
        "--secret-source (EDGEGUARD_SECRET_SOURCE)",
        "--idle-timeout (EDGEGUARD_IDLE_TIMEOUT)",
        "--max-header-bytes (EDGEGUARD_MAX_HEADER_BYTES)",
    ] {
        assert!(out.contains(key), "{key} missing from:\n{out}");
    }
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("configuration error"))
            .count(),
        5
    );
}

#[test]
fn bad_configuration_exits_64_without_binding_anything() {
    // Not --check-config: a real start must refuse the same way, before any socket.
    let (code, out) = run_to_exit(&["--listen", "127.0.0.1:0"], &[]);
    assert_eq!(code, 64, "{out}");
    assert!(out.contains("EDGEGUARD_SECRET_SOURCE"));
    let (code, _) = run_to_exit(&["--no-such-flag"], &[]);
    assert_eq!(code, 64);
}

#[test]
fn help_lists_the_flags_and_exits_zero() {
    let (code, out) = run_to_exit(&["--help"], &[]);
    assert_eq!(code, 0);
    for flag in [
        "--listen",
        "--internal-listen",
        "--secret-source",
        "--health-path",
        "--shutdown-grace",
        "healthcheck",
    ] {
        assert!(out.contains(flag), "{flag} not in help");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_zero_only_when_ready() {
    let f = Fixture::start(|b| b).await;
    let admin = f.proxy.admin().to_string();
    let (code, out) = run_to_exit(&["healthcheck"], &[("EDGEGUARD_ADMIN_LISTEN", &admin)]);
    assert_eq!(code, 0, "{out}");
    let (code, _) = run_to_exit(&["healthcheck", "--admin-listen", &admin], &[]);
    assert_eq!(code, 0);

    // Running but not ready (no secret loaded): 1.
    let unready = Builder::new("env:UNSET_VARIABLE").spawn().await;
    let admin = unready.admin().to_string();
    let (code, out) = run_to_exit(&["healthcheck", "--admin-listen", &admin], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("503"), "{out}");

    // Nothing listening: 1.
    let closed = edgeguard_tests::closed_port();
    let (code, _) = run_to_exit(&["healthcheck", "--admin-listen", &closed.to_string()], &[]);
    assert_eq!(code, 1);
}

/// `edgeguard-sync check-config` validates TOML and (by extension) the Lambda's JSON without
/// calling AWS: the endpoint points at a closed port, and the command still answers at once.
#[test]
fn sync_check_config_reads_toml_and_json_and_calls_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(edgeguard_tests::world::sync_binary())
            .args(["--config", path.to_str().unwrap(), "check-config"])
            .env(
                "AWS_ENDPOINT_URL",
                format!("http://{}", edgeguard_tests::closed_port()),
            )
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(
        "ok.toml",
        "secret_id = \"s\"\nheader = \"x-origin-verify\"\n[[waf]]\nscope = \"REGIONAL\"\nname = \"a\"\nid = \"i\"\nrule = \"r\"\n",
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("1 WAF rule(s)"), "{out}");
    let (code, out, _) = run(
        "ok.json",
        r#"{"secret_id":"s","http_api":[{"api_id":"a"}]}"#,
    );
    assert_eq!(code, Some(0));
    assert!(out.contains("1 HTTP API(s)"), "{out}");
    let (code, _, err) = run(
        "bad.json",
        r#"{"secret_id":"s","waf":[{"scope":"REGIONAL","name":"a","id":"i","rule":"r","extra":1}],"oops":2}"#,
    );
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("waf[0].extra") && err.contains("oops"),
        "{err}"
    );
}
