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

/// A configuration key: its command-line flag (empty if it has none), its environment
/// variable, its default and its help. The one list of them: parsing (`config::load`), the
/// environment and `--help` (`cli::command`) all read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub flag: &'static str,
    pub env: &'static str,
    /// What an unset key means, parsed like a given value ("": nothing, or no default).
    pub default: &'static str,
    /// One line for `--help`; the default is added to it.
    pub help: &'static str,
}

impl Key {
    /// The help line with its default, as `--help` shows it.
    pub fn help_text(&self) -> String {
        if self.default.is_empty() || self.help.contains("[default:") {
            self.help.to_owned()
        } else {
            format!("{} [default: {}]", self.help, self.default)
        }
    }
}

macro_rules! keys {
    ($($(#[doc = $doc:literal])* $name:ident = $flag:literal, $env:literal, $default:expr, $help:literal;)*) => {
        $( $(#[doc = $doc])* pub const $name: Key = Key { flag: $flag, env: $env, default: $default, help: $help }; )*
        /// Every key, for documentation and tests.
        pub const ALL: &[Key] = &[$($name),*];
    };
}

keys! {
    /// Address of the enforcing listener (public ALB's target group).
    LISTEN = "--listen", "EDGEGUARD_LISTEN", "0.0.0.0:8000", "Enforcing listener, the public ALB's target";
    /// Address of the listener that does not require the header (internal ALB).
    INTERNAL_LISTEN = "--internal-listen", "EDGEGUARD_INTERNAL_LISTEN", "", "Second listener that does NOT require the header (internal ALB) [default: none]";
    /// The app: `http://HOST:PORT`.
    UPSTREAM = "--upstream", "EDGEGUARD_UPSTREAM", "http://127.0.0.1:8080", "The app container: http://HOST:PORT, or unix:/PATH for a Unix domain socket";
    /// The header the edge injects.
    HEADER = "--header", "EDGEGUARD_HEADER", edgeguard_secret::header::DEFAULT, "Header injected by the edge";
    /// `enforce`, or `report` while adopting: forward what enforcing would refuse.
    MODE = "--mode", "EDGEGUARD_MODE", "enforce", "enforce: refuse requests without an accepted header (403); report: forward them, count and log who sent them (adoption, docs/adopt.md)";
    /// `on` or `off`: the HTTP/1.1 fast path (`h1`), hyper for everything when off.
    H1_FAST_PATH = "--h1-fast-path", "EDGEGUARD_H1_FAST_PATH", "on", "on: serve the common HTTP/1.1 request on the proxy's own HTTP/1.1 (hyper for the rest); off: hyper for everything (docs/performance.md)";
    /// `file:PATH`, `env:VAR` or `secretsmanager:ID` (name or ARN).
    SECRET_SOURCE = "--secret-source", "EDGEGUARD_SECRET_SOURCE", "", "Accepted values: file:PATH (one per line, # comments), env:VAR (comma or newline separated) or secretsmanager:ID (secret name or ARN) [required]";
    /// How often the source (and any TLS certificate file) is read again.
    REFRESH_INTERVAL = "--refresh-interval", "EDGEGUARD_REFRESH_INTERVAL", "30s", "How often the source and TLS certificate files are read again";
    /// Paths forwarded without the header check; the variable is comma-separated.
    HEALTH_PATH = "--health-path", "EDGEGUARD_HEALTH_PATH", "/healthz", "Exact path forwarded without the header check; repeatable (the variable: comma-separated)";
    /// Address of `/live`, `/ready`, `/metrics`.
    ADMIN_LISTEN = "--admin-listen", "EDGEGUARD_ADMIN_LISTEN", "127.0.0.1:9901", "Admin listener: /live, /ready, /metrics";
    /// Keep-alive idle time; must exceed the ALB's 60 s idle timeout.
    IDLE_TIMEOUT = "--idle-timeout", "EDGEGUARD_IDLE_TIMEOUT", "75s", "Keep-alive idle time; must exceed the ALB's 60s idle timeout";
    /// Time allowed for a request head once its first byte arrived.
    HEADER_READ_TIMEOUT = "--header-read-timeout", "EDGEGUARD_HEADER_READ_TIMEOUT", "10s", "Time allowed to send a request head once it has begun";
    /// Largest request head (431 beyond).
    MAX_HEADER_BYTES = "--max-header-bytes", "EDGEGUARD_MAX_HEADER_BYTES", "65536", "Largest request head in bytes; 431 beyond";
    /// Open client connections, both listeners together.
    MAX_CONNECTIONS = "--max-connections", "EDGEGUARD_MAX_CONNECTIONS", "16384", "Open client connections, both listeners together";
    /// Time to connect to the upstream (502 beyond).
    UPSTREAM_CONNECT_TIMEOUT = "--upstream-connect-timeout", "EDGEGUARD_UPSTREAM_CONNECT_TIMEOUT", "2s", "Time to connect to the upstream; 502 beyond";
    /// Time to the upstream's response head (504 beyond).
    UPSTREAM_TIMEOUT = "--upstream-timeout", "EDGEGUARD_UPSTREAM_TIMEOUT", "60s", "Time to the upstream's response head; 504 beyond";
    /// How long an unused upstream connection stays open, pooled or paired.
    UPSTREAM_POOL_IDLE_TIMEOUT = "--upstream-pool-idle-timeout", "EDGEGUARD_UPSTREAM_POOL_IDLE_TIMEOUT", "4s", "How long an unused upstream connection stays open, pooled or paired";
    /// Time in-flight requests get after SIGTERM.
    SHUTDOWN_GRACE = "--shutdown-grace", "EDGEGUARD_SHUTDOWN_GRACE", "25s", "Time in-flight requests get after SIGTERM or SIGINT";
    /// `json` or `text`.
    LOG_FORMAT = "--log-format", "EDGEGUARD_LOG_FORMAT", "", "json or text [default: json unless stdout is a terminal]";
    /// `off` or `stdout`: CloudWatch embedded-metric records of accepted requests per
    /// version id, rejections and 503s, on stdout (ECS awslogs turns them into metrics).
    EMF = "--emf", "EDGEGUARD_EMF", "off", "off or stdout: CloudWatch embedded-metric records every --emf-interval";
    /// How often the EMF records are written.
    EMF_INTERVAL = "--emf-interval", "EDGEGUARD_EMF_INTERVAL", "60s", "How often the EMF records are written";
    /// The CloudWatch namespace of the EMF metrics.
    EMF_NAMESPACE = "--emf-namespace", "EDGEGUARD_EMF_NAMESPACE", edgeguard_secret::metrics::DEFAULT_NAMESPACE, "CloudWatch namespace of the EMF metrics";
    /// Tokio worker threads.
    WORKER_THREADS = "--worker-threads", "EDGEGUARD_WORKER_THREADS", "", "Tokio worker threads [default: one per available CPU]";
    /// Validate the configuration, report every problem, exit 0 or 64.
    CHECK_CONFIG = "--check-config", "EDGEGUARD_CHECK_CONFIG", "false", "Validate the configuration, report every problem at once, exit 0 or 64";
    /// PEM certificate (chain) of the enforcing listener: HTTPS from the ALB.
    TLS_CERT = "--tls-cert", "EDGEGUARD_TLS_CERT", "", "PEM certificate chain for HTTPS on the enforcing listener (reloaded when it changes)";
    /// PEM private key for `--tls-cert`.
    TLS_KEY = "--tls-key", "EDGEGUARD_TLS_KEY", "", "PEM private key for --tls-cert";
    /// Serve the enforcing listener with a self-signed certificate made at start.
    TLS_SELF_SIGNED = "--tls-self-signed", "EDGEGUARD_TLS_SELF_SIGNED", "false", "HTTPS on the enforcing listener with a self-signed certificate generated at start";
    /// PEM certificate of the internal listener.
    INTERNAL_TLS_CERT = "--internal-tls-cert", "EDGEGUARD_INTERNAL_TLS_CERT", "", "PEM certificate chain for HTTPS on the internal listener";
    /// PEM private key for `--internal-tls-cert`.
    INTERNAL_TLS_KEY = "--internal-tls-key", "EDGEGUARD_INTERNAL_TLS_KEY", "", "PEM private key for --internal-tls-cert";
    /// Serve the internal listener with a self-signed certificate made at start.
    INTERNAL_TLS_SELF_SIGNED = "--internal-tls-self-signed", "EDGEGUARD_INTERNAL_TLS_SELF_SIGNED", "false", "HTTPS on the internal listener with a self-signed certificate generated at start";
    /// Time allowed for a TLS handshake.
    TLS_HANDSHAKE_TIMEOUT = "--tls-handshake-timeout", "EDGEGUARD_TLS_HANDSHAKE_TIMEOUT", "10s", "Time allowed for a TLS handshake";
    /// Log filter (tracing `EnvFilter` syntax); `RUST_LOG` is read when this is unset.
    LOG = "", "EDGEGUARD_LOG", "info", "Log filter (tracing EnvFilter syntax); RUST_LOG is read when this is unset";
}
