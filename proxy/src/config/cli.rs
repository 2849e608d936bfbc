//! Command-line flags. Values stay strings here: `config::load` parses them together
//! with the environment so that every problem is reported at once.

use clap::{Parser, Subcommand};

/// Reverse-proxy sidecar that forwards only requests carrying the edge's shared-secret
/// header. Every flag can also be set by its environment variable, EDGEGUARD_<FLAG>
/// (for example --idle-timeout is EDGEGUARD_IDLE_TIMEOUT); a flag wins over its variable.
#[derive(Debug, Default, Parser)]
#[command(name = "edgeguard-proxy", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Enforcing listener, the public ALB's target [default: 0.0.0.0:8000]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Second listener that does NOT require the header (internal ALB) [default: none]
    #[arg(long, value_name = "ADDR")]
    pub internal_listen: Option<String>,
    /// The app container: http://HOST:PORT, or unix:/PATH for a Unix domain socket [default: http://127.0.0.1:8080]
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Header injected by the edge [default: x-origin-verify]
    #[arg(long, value_name = "NAME")]
    pub header: Option<String>,
    /// Accepted values: file:PATH (one per line, # comments), env:VAR (comma or newline separated) or secretsmanager:ID (secret name or ARN) [required]
    #[arg(long, value_name = "SPEC")]
    pub secret_source: Option<String>,
    /// How often the source and TLS certificate files are read again [default: 30s]
    #[arg(long, value_name = "DUR")]
    pub refresh_interval: Option<String>,
    /// Exact path forwarded without the header check; repeatable [default: /healthz]
    #[arg(long = "health-path", value_name = "PATH")]
    pub health_path: Vec<String>,
    /// Admin listener: /live, /ready, /metrics [default: 127.0.0.1:9901]
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// Keep-alive idle time; must exceed the ALB's 60s idle timeout [default: 75s]
    #[arg(long, value_name = "DUR")]
    pub idle_timeout: Option<String>,
    /// Time allowed to send a request head once it has begun [default: 10s]
    #[arg(long, value_name = "DUR")]
    pub header_read_timeout: Option<String>,
    /// Largest request head in bytes; 431 beyond [default: 65536]
    #[arg(long, value_name = "N")]
    pub max_header_bytes: Option<String>,
    /// Open client connections, both listeners together [default: 16384]
    #[arg(long, value_name = "N")]
    pub max_connections: Option<String>,
    /// Time to connect to the upstream; 502 beyond [default: 2s]
    #[arg(long, value_name = "DUR")]
    pub upstream_connect_timeout: Option<String>,
    /// Time to the upstream's response head; 504 beyond [default: 60s]
    #[arg(long, value_name = "DUR")]
    pub upstream_timeout: Option<String>,
    /// How long an unused upstream connection stays open, pooled or paired [default: 4s]
    #[arg(long, value_name = "DUR")]
    pub upstream_pool_idle_timeout: Option<String>,
    /// Time in-flight requests get after SIGTERM or SIGINT [default: 25s]
    #[arg(long, value_name = "DUR")]
    pub shutdown_grace: Option<String>,
    /// json or text [default: json unless stdout is a terminal]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// off or stdout: CloudWatch embedded-metric records every --emf-interval [default: off]
    #[arg(long, value_name = "OUTPUT")]
    pub emf: Option<String>,
    /// How often the EMF records are written [default: 60s]
    #[arg(long, value_name = "DUR")]
    pub emf_interval: Option<String>,
    /// CloudWatch namespace of the EMF metrics [default: edgeguard]
    #[arg(long, value_name = "NAME")]
    pub emf_namespace: Option<String>,
    /// Tokio worker threads [default: one per available CPU]
    #[arg(long, value_name = "N")]
    pub worker_threads: Option<String>,
    /// PEM certificate chain for HTTPS on the enforcing listener (reloaded when it changes)
    #[arg(long, value_name = "PATH")]
    pub tls_cert: Option<String>,
    /// PEM private key for --tls-cert
    #[arg(long, value_name = "PATH")]
    pub tls_key: Option<String>,
    /// HTTPS on the enforcing listener with a self-signed certificate generated at start
    #[arg(long)]
    pub tls_self_signed: bool,
    /// PEM certificate chain for HTTPS on the internal listener
    #[arg(long, value_name = "PATH")]
    pub internal_tls_cert: Option<String>,
    /// PEM private key for --internal-tls-cert
    #[arg(long, value_name = "PATH")]
    pub internal_tls_key: Option<String>,
    /// HTTPS on the internal listener with a self-signed certificate generated at start
    #[arg(long)]
    pub internal_tls_self_signed: bool,
    /// Time allowed for a TLS handshake [default: 10s]
    #[arg(long, value_name = "DUR")]
    pub tls_handshake_timeout: Option<String>,
    /// Validate the configuration, report every problem at once, exit 0 or 64
    #[arg(long)]
    pub check_config: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exit 0 iff the admin /ready answers 200 (ECS container health check)
    Healthcheck {
        /// Admin listener to ask [default: EDGEGUARD_ADMIN_LISTEN, else 127.0.0.1:9901]
        #[arg(long, value_name = "ADDR")]
        admin_listen: Option<String>,
        /// Give up after this long [default: 2s]
        #[arg(long, value_name = "DUR", default_value = "2s")]
        timeout: String,
    },
}
