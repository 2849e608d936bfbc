use std::collections::HashMap;

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn cli(args: &[&str]) -> Cli {
    cli::parse_from(std::iter::once("edgeguard-proxy").chain(args.iter().copied())).unwrap()
}

#[test]
fn defaults_apply_with_only_the_source_set() {
    let c = load(
        &cli(&[]),
        &env(&[("EDGEGUARD_SECRET_SOURCE", "file:/run/s")]),
    )
    .unwrap();
    assert_eq!(c.listen, "0.0.0.0:8000".parse().unwrap());
    assert_eq!(c.internal_listen, None);
    assert_eq!(c.upstream_authority.as_str(), "127.0.0.1:8080");
    assert_eq!(c.upstream_target, Target::Tcp);
    assert_eq!(c.header.as_str(), "x-origin-verify");
    assert_eq!(c.secret_source, SourceSpec::File("/run/s".into()));
    assert_eq!(c.refresh_interval, Duration::from_secs(30));
    assert_eq!(c.health_paths, ["/healthz"]);
    assert_eq!(c.admin_listen, "127.0.0.1:9901".parse().unwrap());
    assert_eq!(c.idle_timeout, Duration::from_secs(75));
    assert_eq!(c.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.max_header_bytes, 65536);
    assert_eq!(c.shutdown_grace, Duration::from_secs(25));
    assert_eq!(c.log_filter, "info");
    assert!(!c.check_config);
}

#[test]
fn every_flag_has_its_environment_variable() {
    let e = env(&[
        ("EDGEGUARD_LISTEN", "127.0.0.1:1"),
        ("EDGEGUARD_INTERNAL_LISTEN", "127.0.0.1:2"),
        ("EDGEGUARD_UPSTREAM", "http://localhost:3"),
        ("EDGEGUARD_HEADER", "X-Edge-Secret"),
        ("EDGEGUARD_MODE", "report"),
        ("EDGEGUARD_H1_FAST_PATH", "on"),
        ("EDGEGUARD_SECRET_SOURCE", "env:ORIGIN_SECRET"),
        ("EDGEGUARD_REFRESH_INTERVAL", "5s"),
        ("EDGEGUARD_HEALTH_PATH", "/healthz, /ping"),
        ("EDGEGUARD_ADMIN_LISTEN", "127.0.0.1:4"),
        ("EDGEGUARD_IDLE_TIMEOUT", "2m"),
        ("EDGEGUARD_HEADER_READ_TIMEOUT", "3s"),
        ("EDGEGUARD_MAX_HEADER_BYTES", "8192"),
        ("EDGEGUARD_MAX_CONNECTIONS", "10"),
        ("EDGEGUARD_UPSTREAM_CONNECT_TIMEOUT", "100ms"),
        ("EDGEGUARD_UPSTREAM_TIMEOUT", "9s"),
        ("EDGEGUARD_UPSTREAM_POOL_IDLE_TIMEOUT", "1s"),
        ("EDGEGUARD_SHUTDOWN_GRACE", "0s"),
        ("EDGEGUARD_LOG_FORMAT", "text"),
        ("EDGEGUARD_WORKER_THREADS", "1"),
        ("EDGEGUARD_EMF", "stdout"),
        ("EDGEGUARD_EMF_INTERVAL", "10s"),
        ("EDGEGUARD_EMF_NAMESPACE", "team/edgeguard"),
        ("EDGEGUARD_CHECK_CONFIG", "true"),
        ("EDGEGUARD_LOG", "debug"),
        ("EDGEGUARD_TLS_SELF_SIGNED", "true"),
        ("EDGEGUARD_INTERNAL_TLS_SELF_SIGNED", "1"),
        ("EDGEGUARD_TLS_HANDSHAKE_TIMEOUT", "4s"),
        ("EDGEGUARD_TLS_CERT", ""),
        ("EDGEGUARD_TLS_KEY", ""),
        ("EDGEGUARD_INTERNAL_TLS_CERT", ""),
        ("EDGEGUARD_INTERNAL_TLS_KEY", ""),
    ]);
    let c = load(&cli(&[]), &e).unwrap();
    assert_eq!(c.listen.port(), 1);
    assert_eq!(c.internal_listen.unwrap().port(), 2);
    assert_eq!(c.upstream_authority.as_str(), "localhost:3");
    assert_eq!(c.header.as_str(), "x-edge-secret");
    assert_eq!(c.mode, crate::report::Mode::Report);
    assert!(c.h1_fast_path);
    assert_eq!(c.secret_source, SourceSpec::Env("ORIGIN_SECRET".into()));
    assert_eq!(c.refresh_interval, Duration::from_secs(5));
    assert_eq!(c.health_paths, ["/healthz", "/ping"]);
    assert_eq!(c.admin_listen.port(), 4);
    assert_eq!(c.idle_timeout, Duration::from_secs(120));
    assert_eq!(c.header_read_timeout, Duration::from_secs(3));
    assert_eq!(c.max_header_bytes, 8192);
    assert_eq!(c.max_connections, 10);
    assert_eq!(c.upstream_connect_timeout, Duration::from_millis(100));
    assert_eq!(c.upstream_timeout, Duration::from_secs(9));
    assert_eq!(c.upstream_pool_idle_timeout, Duration::from_secs(1));
    assert_eq!(c.shutdown_grace, Duration::ZERO);
    assert_eq!(c.log_format, Some(LogFormat::Text));
    assert_eq!(c.worker_threads, Some(1));
    assert_eq!(
        c.emf,
        Some(super::EmfSpec {
            interval: Duration::from_secs(10),
            namespace: "team/edgeguard".into()
        })
    );
    assert!(c.check_config);
    assert_eq!(c.log_filter, "debug");
    assert_eq!(c.tls, Some(crate::tls::TlsSpec::SelfSigned));
    assert_eq!(c.internal_tls, Some(crate::tls::TlsSpec::SelfSigned));
    assert_eq!(c.tls_handshake_timeout, Duration::from_secs(4));
    // Every documented key was named above (the PEM paths are tested below).
    assert_eq!(e.len(), env::ALL.len());
}

#[test]
fn flags_win_over_the_environment() {
    let e = env(&[
        ("EDGEGUARD_SECRET_SOURCE", "file:/a"),
        ("EDGEGUARD_LISTEN", "127.0.0.1:1"),
        ("EDGEGUARD_HEALTH_PATH", "/from-env"),
    ]);
    let c = load(
        &cli(&[
            "--listen",
            "127.0.0.1:9",
            "--health-path",
            "/a",
            "--health-path",
            "/b",
        ]),
        &e,
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9);
    assert_eq!(c.health_paths, ["/a", "/b"]);
}

#[test]
fn every_problem_is_reported_at_once_with_its_key() {
    let e = env(&[
        ("EDGEGUARD_LISTEN", "nowhere"),
        ("EDGEGUARD_UPSTREAM", "https://app:8443/base"),
        ("EDGEGUARD_IDLE_TIMEOUT", "forever"),
        ("EDGEGUARD_HEALTH_PATH", "healthz"),
        ("EDGEGUARD_LOG_FORMAT", "xml"),
        ("EDGEGUARD_HEADER", "bad header"),
    ]);
    let errors = load(&cli(&["--max-connections", "0"]), &e).unwrap_err();
    let keys: Vec<&str> = errors.0.iter().map(|e| e.key.env).collect();
    assert_eq!(
        keys,
        [
            "EDGEGUARD_LISTEN",
            "EDGEGUARD_UPSTREAM",
            "EDGEGUARD_HEADER",
            "EDGEGUARD_SECRET_SOURCE",
            "EDGEGUARD_HEALTH_PATH",
            "EDGEGUARD_IDLE_TIMEOUT",
            "EDGEGUARD_MAX_CONNECTIONS",
            "EDGEGUARD_LOG_FORMAT",
        ]
    );
    let text = errors.to_string();
    assert!(text.contains("--listen (EDGEGUARD_LISTEN)"), "{text}");
    assert!(text.contains("required"), "{text}");
}

#[test]
fn the_mode_is_enforce_unless_report_is_asked_for() {
    use crate::report::Mode;
    let base = [("EDGEGUARD_SECRET_SOURCE", "env:X")];
    assert_eq!(load(&cli(&[]), &env(&base)).unwrap().mode, Mode::Enforce);
    let flag = load(&cli(&["--mode", "report"]), &env(&base)).unwrap();
    assert_eq!(flag.mode, Mode::Report);
    let mut both = base.to_vec();
    both.push(("EDGEGUARD_MODE", "report"));
    let flag_wins = load(&cli(&["--mode", "enforce"]), &env(&both)).unwrap();
    assert_eq!(flag_wins.mode, Mode::Enforce);
    for bad in ["audit", "REPORT", "off", ""] {
        let errors = load(&cli(&["--mode", bad]), &env(&base)).unwrap_err();
        let keys: Vec<&str> = errors.0.iter().map(|e| e.key.flag).collect();
        assert_eq!(keys, ["--mode"], "{bad:?}");
    }
}

#[test]
fn the_fast_path_switch_is_on_or_off_and_nothing_else() {
    let base = [("EDGEGUARD_SECRET_SOURCE", "env:X")];
    let on = load(&cli(&["--h1-fast-path", "on"]), &env(&base)).unwrap();
    assert!(on.h1_fast_path);
    let off = load(&cli(&["--h1-fast-path", "off"]), &env(&base)).unwrap();
    assert!(!off.h1_fast_path);
    for bad in ["true", "ON", "1", ""] {
        let errors = load(&cli(&["--h1-fast-path", bad]), &env(&base)).unwrap_err();
        let keys: Vec<&str> = errors.0.iter().map(|e| e.key.flag).collect();
        assert_eq!(keys, ["--h1-fast-path"], "{bad:?}");
    }
}

#[test]
fn emf_is_off_by_default_and_its_settings_are_checked() {
    let base = [("EDGEGUARD_SECRET_SOURCE", "env:X")];
    assert_eq!(load(&cli(&[]), &env(&base)).unwrap().emf, None);
    let on = load(&cli(&["--emf", "stdout"]), &env(&base)).unwrap();
    let spec = on.emf.unwrap();
    assert_eq!(
        (spec.interval, spec.namespace.as_str()),
        (Duration::from_secs(60), "edgeguard")
    );
    let errors = load(
        &cli(&[
            "--emf",
            "cloudwatch",
            "--emf-interval",
            "500ms",
            "--emf-namespace",
            "AWS/ELB",
        ]),
        &env(&base),
    )
    .unwrap_err();
    let keys: Vec<&str> = errors.0.iter().map(|e| e.key.env).collect();
    assert_eq!(
        keys,
        [
            "EDGEGUARD_EMF",
            "EDGEGUARD_EMF_INTERVAL",
            "EDGEGUARD_EMF_NAMESPACE"
        ]
    );
    for bad in ["", "a\"b", "x{y}", ":edge"] {
        let e = load(&cli(&["--emf-namespace", bad]), &env(&base)).unwrap_err();
        assert_eq!(e.0[0].key, env::EMF_NAMESPACE, "{bad:?}");
    }
}

#[test]
fn secret_sources_are_checked() {
    let bad = |spec: &str| load(&cli(&["--secret-source", spec]), &env(&[])).unwrap_err();
    for spec in ["", "file:", "env:", "s3://bucket", "secretsmanager:"] {
        assert_eq!(bad(spec).0[0].key, env::SECRET_SOURCE, "{spec}");
    }
}

#[test]
fn an_invalid_log_filter_is_a_configuration_error() {
    let e = env(&[
        ("EDGEGUARD_SECRET_SOURCE", "env:X"),
        ("EDGEGUARD_LOG", "=["),
    ]);
    assert_eq!(load(&cli(&[]), &e).unwrap_err().0[0].key, env::LOG);
}

#[test]
fn secrets_manager_takes_a_name_or_an_arn() {
    let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:edgeguard/origin-AbCdEf";
    for id in ["edgeguard/origin", arn] {
        let c = load(
            &cli(&["--secret-source", &format!("secretsmanager:{id}")]),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(c.secret_source, SourceSpec::SecretsManager(id.into()));
    }
}

#[test]
fn tls_settings_are_checked_per_listener() {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let wrong_key = dir.path().join("wrong.pem");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    std::fs::write(&wrong_key, other.signing_key.serialize_pem()).unwrap();
    let (cert, key, wrong_key) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        wrong_key.to_str().unwrap(),
    );
    let base = ["--secret-source", "env:X"];
    let with = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        load(&cli(&args), &env(&[]))
    };
    let ok = with(&["--tls-cert", cert, "--tls-key", key]).unwrap();
    assert_eq!(
        ok.tls,
        Some(crate::tls::TlsSpec::Files {
            cert: cert.into(),
            key: key.into()
        })
    );
    let keys = |extra: &[&str]| -> Vec<&'static str> {
        with(extra)
            .unwrap_err()
            .0
            .iter()
            .map(|e| e.key.env)
            .collect()
    };
    assert_eq!(
        keys(&["--tls-cert", cert, "--tls-key", wrong_key]),
        ["EDGEGUARD_TLS_CERT"]
    );
    assert_eq!(keys(&["--tls-cert", cert]), ["EDGEGUARD_TLS_KEY"]);
    assert_eq!(
        keys(&["--tls-cert", "/nonexistent", "--tls-key", key]),
        ["EDGEGUARD_TLS_CERT"]
    );
    assert_eq!(
        keys(&["--tls-cert", cert, "--tls-key", key, "--tls-self-signed"]),
        ["EDGEGUARD_TLS_SELF_SIGNED"]
    );
    assert_eq!(
        keys(&["--internal-tls-self-signed"]),
        ["EDGEGUARD_INTERNAL_LISTEN"]
    );
}

#[test]
fn the_header_name_follows_the_shared_rule_what_an_alb_forwards() {
    for bad in ["x_origin_verify", "x-origin verify", "x:origin"] {
        let e = load(
            &cli(&[]),
            &env(&[
                ("EDGEGUARD_SECRET_SOURCE", "file:/run/s"),
                ("EDGEGUARD_HEADER", bad),
            ]),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("EDGEGUARD_HEADER"), "{text}");
        assert!(text.contains("ALB"), "{text}");
    }
}

#[test]
fn a_unix_socket_upstream_takes_an_absolute_path_that_fits_a_socket_address() {
    let source = ("EDGEGUARD_SECRET_SOURCE", "file:/run/s");
    let c = load(
        &cli(&["--upstream", "unix:/run/app/http.sock"]),
        &env(&[source]),
    )
    .unwrap();
    assert_eq!(
        c.upstream_target,
        Target::Unix(PathBuf::from("/run/app/http.sock"))
    );
    assert_eq!(c.upstream_authority.as_str(), "localhost");

    let long = format!("unix:/{}", "a".repeat(107));
    for (bad, says) in [
        ("unix:run/app.sock", "absolute path"),
        ("unix:", "absolute path"),
        (long.as_str(), "at most 107 bytes"),
    ] {
        let errors = load(&cli(&[]), &env(&[source, ("EDGEGUARD_UPSTREAM", bad)])).unwrap_err();
        let keys: Vec<&str> = errors.0.iter().map(|e| e.key.env).collect();
        assert_eq!(keys, ["EDGEGUARD_UPSTREAM"], "{bad}");
        let text = errors.to_string();
        assert!(text.contains(says), "{bad}: {text}");
    }
}

#[test]
fn every_flag_takes_its_help_and_default_from_the_key_table() {
    let command = cli::command();
    command.clone().debug_assert();
    let mut flags = 0;
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if long == "help" || long == "version" {
            continue;
        }
        let key = env::ALL
            .iter()
            .find(|k| k.flag == format!("--{long}"))
            .unwrap_or_else(|| panic!("--{long} has no key in config::env"));
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        assert_eq!(help, key.help_text(), "--{long}");
        flags += 1;
    }
    assert_eq!(
        flags,
        env::ALL.iter().filter(|k| !k.flag.is_empty()).count()
    );
    // A default is written once, in the table: `--help` shows it, and parsing uses it.
    let upstream = env::UPSTREAM;
    assert!(upstream.help_text().contains(upstream.default));
}
