//! The environment, read through a trait so that tests pass a map (never `set_var`), and
//! every configuration key with its flag and variable. ECS passes configuration by
//! environment; a flag given on the command line wins over its variable.

use std::collections::HashMap;

/// Read access to environment variables. An empty value counts as unset (ECS task
/// definitions often carry empty variables).
pub trait Env {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEnv;

impl Env for OsEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var_os(key)
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    }
}

impl Env for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).filter(|v| !v.is_empty()).cloned()
    }
}

/// A configuration key: its command-line flag (empty if it has none) and its environment
/// variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub flag: &'static str,
    pub env: &'static str,
}

macro_rules! keys {
    ($($(#[doc = $doc:literal])* $name:ident = $flag:literal, $env:literal;)*) => {
        $( $(#[doc = $doc])* pub const $name: Key = Key { flag: $flag, env: $env }; )*
        /// Every key, for documentation and tests.
        pub const ALL: &[Key] = &[$($name),*];
    };
}

keys! {
    /// Address of the enforcing listener (public ALB's target group). [0.0.0.0:8000]
    LISTEN = "--listen", "EDGEGUARD_LISTEN";
    /// Address of the listener that does not require the header (internal ALB). [none]
    INTERNAL_LISTEN = "--internal-listen", "EDGEGUARD_INTERNAL_LISTEN";
    /// The app: `http://HOST:PORT`. [http://127.0.0.1:8080]
    UPSTREAM = "--upstream", "EDGEGUARD_UPSTREAM";
    /// The header the edge injects. [x-origin-verify]
    HEADER = "--header", "EDGEGUARD_HEADER";
    /// `file:PATH`, `env:VAR` or `secretsmanager:ID` (name or ARN). [required]
    SECRET_SOURCE = "--secret-source", "EDGEGUARD_SECRET_SOURCE";
    /// How often the source (and any TLS certificate file) is read again. [30s]
    REFRESH_INTERVAL = "--refresh-interval", "EDGEGUARD_REFRESH_INTERVAL";
    /// Paths forwarded without the header check; the variable is comma-separated. [/healthz]
    HEALTH_PATH = "--health-path", "EDGEGUARD_HEALTH_PATH";
    /// Address of `/live`, `/ready`, `/metrics`. [127.0.0.1:9901]
    ADMIN_LISTEN = "--admin-listen", "EDGEGUARD_ADMIN_LISTEN";
    /// Keep-alive idle time; must exceed the ALB's 60 s idle timeout. [75s]
    IDLE_TIMEOUT = "--idle-timeout", "EDGEGUARD_IDLE_TIMEOUT";
    /// Time allowed for a request head once its first byte arrived. [10s]
    HEADER_READ_TIMEOUT = "--header-read-timeout", "EDGEGUARD_HEADER_READ_TIMEOUT";
    /// Largest request head (431 beyond). [65536]
    MAX_HEADER_BYTES = "--max-header-bytes", "EDGEGUARD_MAX_HEADER_BYTES";
    /// Open client connections, both listeners together. [16384]
    MAX_CONNECTIONS = "--max-connections", "EDGEGUARD_MAX_CONNECTIONS";
    /// Time to connect to the upstream (502 beyond). [2s]
    UPSTREAM_CONNECT_TIMEOUT = "--upstream-connect-timeout", "EDGEGUARD_UPSTREAM_CONNECT_TIMEOUT";
    /// Time to the upstream's response head (504 beyond). [60s]
    UPSTREAM_TIMEOUT = "--upstream-timeout", "EDGEGUARD_UPSTREAM_TIMEOUT";
    /// How long an unused upstream connection stays open, pooled or paired. [4s]
    UPSTREAM_POOL_IDLE_TIMEOUT = "--upstream-pool-idle-timeout", "EDGEGUARD_UPSTREAM_POOL_IDLE_TIMEOUT";
    /// Time in-flight requests get after SIGTERM. [25s]
    SHUTDOWN_GRACE = "--shutdown-grace", "EDGEGUARD_SHUTDOWN_GRACE";
    /// `json` or `text`. [json unless stdout is a terminal]
    LOG_FORMAT = "--log-format", "EDGEGUARD_LOG_FORMAT";
    /// `off` or `stdout`: CloudWatch embedded-metric records of accepted requests per
    /// version id, rejections and 503s, on stdout (ECS awslogs turns them into metrics). [off]
    EMF = "--emf", "EDGEGUARD_EMF";
    /// How often the EMF records are written. [60s]
    EMF_INTERVAL = "--emf-interval", "EDGEGUARD_EMF_INTERVAL";
    /// The CloudWatch namespace of the EMF metrics. [edgeguard]
    EMF_NAMESPACE = "--emf-namespace", "EDGEGUARD_EMF_NAMESPACE";
    /// Tokio worker threads. [one per available CPU]
    WORKER_THREADS = "--worker-threads", "EDGEGUARD_WORKER_THREADS";
    /// Validate the configuration, report every problem, exit 0 or 64. [off]
    CHECK_CONFIG = "--check-config", "EDGEGUARD_CHECK_CONFIG";
    /// PEM certificate (chain) of the enforcing listener: HTTPS from the ALB. [none]
    TLS_CERT = "--tls-cert", "EDGEGUARD_TLS_CERT";
    /// PEM private key for `--tls-cert`. [none]
    TLS_KEY = "--tls-key", "EDGEGUARD_TLS_KEY";
    /// Serve the enforcing listener with a self-signed certificate made at start. [off]
    TLS_SELF_SIGNED = "--tls-self-signed", "EDGEGUARD_TLS_SELF_SIGNED";
    /// PEM certificate of the internal listener. [none]
    INTERNAL_TLS_CERT = "--internal-tls-cert", "EDGEGUARD_INTERNAL_TLS_CERT";
    /// PEM private key for `--internal-tls-cert`. [none]
    INTERNAL_TLS_KEY = "--internal-tls-key", "EDGEGUARD_INTERNAL_TLS_KEY";
    /// Serve the internal listener with a self-signed certificate made at start. [off]
    INTERNAL_TLS_SELF_SIGNED = "--internal-tls-self-signed", "EDGEGUARD_INTERNAL_TLS_SELF_SIGNED";
    /// Time allowed for a TLS handshake. [10s]
    TLS_HANDSHAKE_TIMEOUT = "--tls-handshake-timeout", "EDGEGUARD_TLS_HANDSHAKE_TIMEOUT";
    /// Log filter (tracing `EnvFilter` syntax); `RUST_LOG` is read when this is unset. [info]
    LOG = "", "EDGEGUARD_LOG";
}
