//! Command-line flags. Values stay strings here: `config::load` parses them together
//! with the environment so that every problem is reported at once. Their help comes from
//! the key table (`env`), which carries each default once: parse with [`parse_from`].

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use super::env;

/// The command, every flag's help taken from its key (help line and default).
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    for key in env::ALL.iter().filter(|k| !k.flag.is_empty()) {
        let id = key.flag.trim_start_matches("--").replace('-', "_");
        command = command.mut_arg(id, |arg| arg.help(key.help_text()));
    }
    command
}

/// Parses `args` (the program's name first) with [`command`].
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = command().try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

/// Reverse-proxy sidecar that forwards only requests carrying the edge's shared-secret
/// header. Every flag can also be set by its environment variable, EDGEGUARD_<FLAG>
/// (for example --idle-timeout is EDGEGUARD_IDLE_TIMEOUT); a flag wins over its variable.
#[derive(Debug, Default, Parser)]
#[command(name = "edgeguard-proxy", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    #[arg(long, value_name = "ADDR")]
    pub internal_listen: Option<String>,
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    #[arg(long, value_name = "NAME")]
    pub header: Option<String>,
    #[arg(long, value_name = "SPEC")]
    pub secret_source: Option<String>,
    #[arg(long, value_name = "DUR")]
    pub refresh_interval: Option<String>,
    #[arg(long = "health-path", value_name = "PATH")]
    pub health_path: Vec<String>,
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,
    #[arg(long, value_name = "DUR")]
    pub idle_timeout: Option<String>,
    #[arg(long, value_name = "DUR")]
    pub header_read_timeout: Option<String>,
    #[arg(long, value_name = "N")]
    pub max_header_bytes: Option<String>,
    #[arg(long, value_name = "N")]
    pub max_connections: Option<String>,
    #[arg(long, value_name = "DUR")]
    pub upstream_connect_timeout: Option<String>,
    #[arg(long, value_name = "DUR")]
    pub upstream_timeout: Option<String>,
    #[arg(long, value_name = "DUR")]
    pub upstream_pool_idle_timeout: Option<String>,
    #[arg(long, value_name = "DUR")]
    pub shutdown_grace: Option<String>,
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,
    #[arg(long, value_name = "on|off")]
    pub h1_fast_path: Option<String>,
    #[arg(long, value_name = "OUTPUT")]
    pub emf: Option<String>,
    #[arg(long, value_name = "DUR")]
    pub emf_interval: Option<String>,
    #[arg(long, value_name = "NAME")]
    pub emf_namespace: Option<String>,
    #[arg(long, value_name = "N")]
    pub worker_threads: Option<String>,
    #[arg(long, value_name = "PATH")]
    pub tls_cert: Option<String>,
    #[arg(long, value_name = "PATH")]
    pub tls_key: Option<String>,
    #[arg(long)]
    pub tls_self_signed: bool,
    #[arg(long, value_name = "PATH")]
    pub internal_tls_cert: Option<String>,
    #[arg(long, value_name = "PATH")]
    pub internal_tls_key: Option<String>,
    #[arg(long)]
    pub internal_tls_self_signed: bool,
    #[arg(long, value_name = "DUR")]
    pub tls_handshake_timeout: Option<String>,
    #[arg(long)]
    pub check_config: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exit 0 iff the admin /ready answers 200 (ECS container health check)
    Healthcheck {
        /// Admin listener to ask [default: EDGEGUARD_ADMIN_LISTEN, else --admin-listen's default]
        #[arg(long, value_name = "ADDR")]
        admin_listen: Option<String>,
        /// Give up after this long [default: 2s]
        #[arg(long, value_name = "DUR", default_value = "2s")]
        timeout: String,
    },
}
