//! Typed configuration: flags over environment over defaults, validated once; every
//! problem is collected and reported together, each naming its flag and variable.

use crate::connect::Target;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;

use crate::report::Mode;
use crate::tls::{self, TlsSpec};
use http::uri::{Authority, Scheme, Uri};

pub mod cli;
pub mod env;

#[cfg(test)]
mod tests;

use cli::Cli;
use env::{Env, Key};

/// Where accepted values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    File(PathBuf),
    Env(String),
    /// A secret name or ARN.
    SecretsManager(String),
}

/// CloudWatch embedded-metric output (`--emf stdout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmfSpec {
    pub interval: Duration,
    pub namespace: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// Everything the proxy needs, parsed and checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub internal_listen: Option<SocketAddr>,
    pub upstream_scheme: Scheme,
    pub upstream_authority: Authority,
    /// TCP to the authority, or a Unix domain socket (`unix:/path`).
    pub upstream_target: Target,
    pub header: HeaderName,
    /// Report mode forwards what enforcing would refuse (adoption).
    pub mode: Mode,
    /// The HTTP/1.1 fast path (`h1`) serves what it can.
    pub h1_fast_path: bool,
    pub secret_source: SourceSpec,
    pub refresh_interval: Duration,
    pub health_paths: Vec<String>,
    pub admin_listen: SocketAddr,
    pub idle_timeout: Duration,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    pub upstream_connect_timeout: Duration,
    pub upstream_timeout: Duration,
    pub upstream_pool_idle_timeout: Duration,
    pub shutdown_grace: Duration,
    /// `None`: JSON unless stdout is a terminal.
    pub log_format: Option<LogFormat>,
    pub log_filter: String,
    /// `None`: no EMF output.
    pub emf: Option<EmfSpec>,
    pub worker_threads: Option<usize>,
    pub check_config: bool,
    /// HTTPS on the enforcing listener.
    pub tls: Option<TlsSpec>,
    /// HTTPS on the internal listener.
    pub internal_tls: Option<TlsSpec>,
    pub tls_handshake_timeout: Duration,
}

/// One problem with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub key: Key,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.flag.is_empty() {
            write!(f, "{}: {}", self.key.env, self.message)
        } else {
            write!(f, "{} ({}): {}", self.key.flag, self.key.env, self.message)
        }
    }
}

/// Every problem found, in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "configuration error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads flags, then the environment, then defaults; collects every problem.
struct Reader<'a> {
    env: &'a dyn Env,
    errors: Vec<ConfigError>,
}

impl Reader<'_> {
    fn raw(&self, key: Key, flag: &Option<String>) -> Option<String> {
        flag.clone().or_else(|| self.env.get(key.env))
    }

    /// Parses the flag or variable, or the key's default when neither is set. On a problem, the
    /// error is recorded and the default is returned so that checking can go on.
    #[expect(
        clippy::expect_used,
        reason = "the defaults are constants that parse (config tests load them all)"
    )]
    fn parse<T>(
        &mut self,
        key: Key,
        flag: &Option<String>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        if let Some(raw) = self.raw(key, flag) {
            match parse(raw.trim()) {
                Ok(v) => return v,
                Err(message) => self.errors.push(ConfigError { key, message }),
            }
        }
        parse(key.default).expect("defaults are valid")
    }

    fn error(&mut self, key: Key, message: impl Into<String>) {
        self.errors.push(ConfigError {
            key,
            message: message.into(),
        });
    }
}

/// Builds the configuration from parsed flags and the environment.
/// A configuration from flags alone (no environment), parsed as the binary parses its own:
/// for the benches and the fuzz targets, which serve with the binary's defaults.
pub fn from_args(args: &[&str]) -> Result<Config, String> {
    let cli = cli::parse_from(std::iter::once("edgeguard-proxy").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    let no_env: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    load(&cli, &no_env).map_err(|e| e.to_string())
}

pub fn load(cli: &Cli, env: &dyn Env) -> Result<Config, ConfigErrors> {
    let mut r = Reader {
        env,
        errors: Vec::new(),
    };
    let listen = r.parse(env::LISTEN, &cli.listen, parse_addr);
    let internal_listen = r.parse(env::INTERNAL_LISTEN, &cli.internal_listen, |s| {
        if s.is_empty() {
            Ok(None)
        } else {
            parse_addr(s).map(Some)
        }
    });
    let (upstream_scheme, upstream_authority, upstream_target) =
        r.parse(env::UPSTREAM, &cli.upstream, parse_upstream);
    let header = r.parse(env::HEADER, &cli.header, parse_header);
    let mode = r.parse(env::MODE, &cli.mode, Mode::parse);
    let h1_fast_path = r.parse(env::H1_FAST_PATH, &cli.h1_fast_path, on_off);
    let secret_source = match r.raw(env::SECRET_SOURCE, &cli.secret_source) {
        None => {
            r.error(
                env::SECRET_SOURCE,
                "required: file:PATH, env:VAR or secretsmanager:ID",
            );
            None
        }
        Some(raw) => match parse_source(raw.trim()) {
            Ok(spec) => Some(spec),
            Err(message) => {
                r.error(env::SECRET_SOURCE, message);
                None
            }
        },
    };
    let refresh_interval = r.parse(env::REFRESH_INTERVAL, &cli.refresh_interval, positive);
    let health_flag = (!cli.health_path.is_empty()).then(|| cli.health_path.join(","));
    let health_paths = r.parse(env::HEALTH_PATH, &health_flag, parse_health_paths);
    let admin_listen = r.parse(env::ADMIN_LISTEN, &cli.admin_listen, parse_addr);
    let idle_timeout = r.parse(env::IDLE_TIMEOUT, &cli.idle_timeout, positive);
    let header_read_timeout = r.parse(env::HEADER_READ_TIMEOUT, &cli.header_read_timeout, positive);
    let max_header_bytes = r.parse(env::MAX_HEADER_BYTES, &cli.max_header_bytes, |s| {
        let n = count(s)?;
        if n < 1024 {
            Err(format!("{n} is too small: at least 1024 bytes"))
        } else {
            Ok(n)
        }
    });
    let max_connections = r.parse(env::MAX_CONNECTIONS, &cli.max_connections, count);
    let upstream_connect_timeout = r.parse(
        env::UPSTREAM_CONNECT_TIMEOUT,
        &cli.upstream_connect_timeout,
        positive,
    );
    let upstream_timeout = r.parse(env::UPSTREAM_TIMEOUT, &cli.upstream_timeout, positive);
    let upstream_pool_idle_timeout = r.parse(
        env::UPSTREAM_POOL_IDLE_TIMEOUT,
        &cli.upstream_pool_idle_timeout,
        positive,
    );
    let shutdown_grace = r.parse(env::SHUTDOWN_GRACE, &cli.shutdown_grace, duration);
    let log_format = r.parse(env::LOG_FORMAT, &cli.log_format, |s| match s {
        "" => Ok(None),
        "json" => Ok(Some(LogFormat::Json)),
        "text" => Ok(Some(LogFormat::Text)),
        other => Err(format!("\"{other}\" is neither json nor text")),
    });
    let log_filter = env
        .get(env::LOG.env)
        .or_else(|| env.get("RUST_LOG"))
        .unwrap_or_else(|| env::LOG.default.to_owned());
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_filter) {
        r.error(env::LOG, format!("invalid log filter: {e}"));
    }
    let emf_on = r.parse(env::EMF, &cli.emf, |s| match s {
        "off" => Ok(false),
        "stdout" => Ok(true),
        other => Err(format!("\"{other}\" is neither off nor stdout")),
    });
    let emf_interval = r.parse(env::EMF_INTERVAL, &cli.emf_interval, |s| {
        let d = duration(s)?;
        if d < Duration::from_secs(1) {
            Err("must be at least 1s (CloudWatch stores one-second resolution at most)".into())
        } else {
            Ok(d)
        }
    });
    let emf_namespace = r.parse(env::EMF_NAMESPACE, &cli.emf_namespace, parse_namespace);
    let emf = emf_on.then_some(EmfSpec {
        interval: emf_interval,
        namespace: emf_namespace,
    });
    let worker_threads = r.parse(env::WORKER_THREADS, &cli.worker_threads, |s| {
        if s.is_empty() {
            Ok(None)
        } else {
            count(s).map(Some)
        }
    });
    let check_flag = cli.check_config.then(|| "true".to_owned());
    let check_config = r.parse(env::CHECK_CONFIG, &check_flag, parse_bool);
    let tls = tls_spec(
        &mut r,
        [env::TLS_CERT, env::TLS_KEY, env::TLS_SELF_SIGNED],
        [&cli.tls_cert, &cli.tls_key],
        cli.tls_self_signed,
    );
    let internal_tls = tls_spec(
        &mut r,
        [
            env::INTERNAL_TLS_CERT,
            env::INTERNAL_TLS_KEY,
            env::INTERNAL_TLS_SELF_SIGNED,
        ],
        [&cli.internal_tls_cert, &cli.internal_tls_key],
        cli.internal_tls_self_signed,
    );
    if internal_tls.is_some() && internal_listen.is_none() {
        r.error(
            env::INTERNAL_LISTEN,
            "required when the internal listener has TLS settings",
        );
    }
    let tls_handshake_timeout = r.parse(
        env::TLS_HANDSHAKE_TIMEOUT,
        &cli.tls_handshake_timeout,
        positive,
    );

    match (r.errors.is_empty(), secret_source) {
        (true, Some(secret_source)) => Ok(Config {
            listen,
            internal_listen,
            upstream_scheme,
            upstream_authority,
            upstream_target,
            header,
            mode,
            h1_fast_path,
            secret_source,
            refresh_interval,
            health_paths,
            admin_listen,
            idle_timeout,
            header_read_timeout,
            max_header_bytes,
            max_connections,
            upstream_connect_timeout,
            upstream_timeout,
            upstream_pool_idle_timeout,
            shutdown_grace,
            log_format,
            log_filter,
            emf,
            worker_threads,
            check_config,
            tls,
            internal_tls,
            tls_handshake_timeout,
        }),
        _ => Err(ConfigErrors(r.errors)),
    }
}

/// The admin address alone, for `healthcheck` (which needs nothing else).
pub fn admin_address(flag: &Option<String>, env: &dyn Env) -> Result<SocketAddr, ConfigErrors> {
    let mut r = Reader {
        env,
        errors: Vec::new(),
    };
    let addr = r.parse(env::ADMIN_LISTEN, flag, parse_addr);
    if r.errors.is_empty() {
        Ok(addr)
    } else {
        Err(ConfigErrors(r.errors))
    }
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("\"{s}\" is not an IP:PORT socket address (e.g. 0.0.0.0:8000)"))
}

pub fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("\"{s}\" is not a duration such as 30s, 500ms or 2m: {e}"))
}

/// A CloudWatch namespace, by the rule sync's `[evidence]` applies too (the shared crate's).
fn parse_namespace(s: &str) -> Result<String, String> {
    edgeguard_secret::metrics::namespace(s)
        .map(str::to_owned)
        .map_err(|e| e.to_string())
}

fn positive(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() {
        Err("must be longer than zero".into())
    } else {
        Ok(d)
    }
}

fn count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("\"{s}\" is not a whole number above zero")),
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(format!("\"{s}\" is not true or false")),
    }
}

/// The shared header-name rule (what an ALB forwards), then http's type.
fn parse_header(s: &str) -> Result<HeaderName, String> {
    let name = edgeguard_secret::header::name(s).map_err(|e| e.to_string())?;
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("\"{s}\" is not a valid header name"))
}

/// The most a Unix socket address holds (`sun_path`, 108 bytes with its NUL on Linux).
const MAX_SOCKET_PATH: usize = 107;

fn parse_upstream(s: &str) -> Result<(Scheme, Authority, Target), String> {
    if let Some(path) = s.strip_prefix("unix:") {
        if !path.starts_with('/') {
            return Err(format!(
                "\"{s}\": a Unix socket needs an absolute path, such as unix:/run/app/http.sock"
            ));
        }
        if path.len() > MAX_SOCKET_PATH {
            return Err(format!(
                "\"{s}\": a Unix socket path holds at most {MAX_SOCKET_PATH} bytes"
            ));
        }
        // The pool keys its connections by this, and a request without `Host` (HTTP/2
        // carries `:authority`, always set by the ALB) gets it.
        let authority = Authority::from_static("localhost");
        return Ok((Scheme::HTTP, authority, Target::Unix(PathBuf::from(path))));
    }
    let uri: Uri = s.parse().map_err(|_| {
        format!("\"{s}\" is not a URL such as http://127.0.0.1:8080 or unix:/run/app.sock")
    })?;
    if uri.scheme() != Some(&Scheme::HTTP) {
        return Err(format!(
            "\"{s}\": only http:// upstreams are supported (the app in the same task)"
        ));
    }
    let Some(authority) = uri.authority().cloned() else {
        return Err(format!("\"{s}\" has no host"));
    };
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!(
            "\"{s}\": a path or query is not supported; requests keep their own"
        ));
    }
    Ok((Scheme::HTTP, authority, Target::Tcp))
}

fn parse_source(s: &str) -> Result<SourceSpec, String> {
    match s.split_once(':') {
        Some(("file", path)) if !path.is_empty() => Ok(SourceSpec::File(PathBuf::from(path))),
        Some(("env", var)) if !var.is_empty() && !var.contains('=') => {
            Ok(SourceSpec::Env(var.to_owned()))
        }
        Some(("secretsmanager", id)) if !id.is_empty() => {
            Ok(SourceSpec::SecretsManager(id.to_owned()))
        }
        _ => Err(format!(
            "\"{s}\" is none of file:PATH, env:VAR, secretsmanager:ID"
        )),
    }
}

/// One listener's TLS settings: a PEM pair (loaded now, so that a bad pair is a
/// configuration error), a self-signed certificate, or neither.
fn tls_spec(
    r: &mut Reader<'_>,
    [cert_key, key_key, self_key]: [Key; 3],
    [cert_flag, key_flag]: [&Option<String>; 2],
    self_flag: bool,
) -> Option<TlsSpec> {
    let cert = r.raw(cert_key, cert_flag);
    let key = r.raw(key_key, key_flag);
    let self_signed = r.parse(self_key, &self_flag.then(|| "true".to_owned()), parse_bool);
    match (cert, key, self_signed) {
        (None, None, false) => None,
        (None, None, true) => Some(TlsSpec::SelfSigned),
        (Some(_), Some(_), true) => {
            r.error(
                self_key,
                format!(
                    "give either {} and {}, or this, not both",
                    cert_key.flag, key_key.flag
                ),
            );
            None
        }
        (Some(cert), Some(key), false) => {
            let (cert, key) = (PathBuf::from(cert), PathBuf::from(key));
            match tls::load_pair(&cert, &key) {
                Ok(_) => Some(TlsSpec::Files { cert, key }),
                Err(e) => {
                    r.error(cert_key, e.to_string());
                    None
                }
            }
        }
        (Some(_), None, _) => {
            r.error(key_key, format!("required with {}", cert_key.flag));
            None
        }
        (None, Some(_), _) => {
            r.error(cert_key, format!("required with {}", key_key.flag));
            None
        }
    }
}

fn parse_health_paths(s: &str) -> Result<Vec<String>, String> {
    let mut paths = Vec::new();
    for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !p.starts_with('/') || p.contains(['?', '#', ' ']) {
            return Err(format!(
                "\"{p}\" is not an absolute path without query (e.g. /healthz)"
            ));
        }
        paths.push(p.to_owned());
    }
    Ok(paths)
}

fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("\"{other}\" is neither on nor off")),
    }
}
