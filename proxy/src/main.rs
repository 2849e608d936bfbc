//! edgeguard-proxy: configuration → logging → runtime → serve until SIGTERM → drain.

#![allow(
    clippy::print_stdout,
    reason = "the binary prints what it is asked for (--check-config, healthcheck)"
)]

use std::process::ExitCode;

use edgeguard_proxy::config::{self, cli, cli::Command, env::OsEnv};
use edgeguard_proxy::{app, healthcheck, logging};

/// The allocator under comparison (`--features mimalloc`); the system's otherwise.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// EX_USAGE (sysexits.h): bad configuration.
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match cli::parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(EX_USAGE);
        }
    };
    let env = OsEnv;

    if let Some(Command::Healthcheck {
        admin_listen,
        timeout,
    }) = &cli.command
    {
        let addr = match config::admin_address(admin_listen, &env) {
            Ok(addr) => addr,
            Err(errors) => return usage(&errors),
        };
        let timeout = match config::duration(timeout) {
            Ok(t) => t,
            Err(message) => {
                eprintln!("configuration error: --timeout: {message}");
                return ExitCode::from(EX_USAGE);
            }
        };
        return match healthcheck::check(addr, timeout) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("not ready: {message}");
                ExitCode::FAILURE
            }
        };
    }

    let config = match config::load(&cli, &env) {
        Ok(config) => config,
        Err(errors) => return usage(&errors),
    };
    if config.check_config {
        println!("configuration ok");
        return ExitCode::SUCCESS;
    }

    // Held until exit: dropping it flushes the log lines still queued.
    let _logs = logging::init(&config);
    let workers = config
        .worker_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // One worker (a sidecar's usual share of a task): the current-thread scheduler, which
    // runs every task on this thread with no work-stealing queues, no cross-thread wake-ups
    // and no idle thread beside the worker. More: the multi-thread one.
    let mut runtime = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        runtime.worker_threads(workers);
        runtime
    };
    runtime.enable_all();
    let runtime = match runtime.build() {
        Ok(rt) => rt,
        Err(error) => {
            tracing::error!(%error, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(app::run(config, &env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ app::RunError::Config(_)) => {
            tracing::error!(error = %error, "edgeguard-proxy stopped");
            eprintln!("{error}");
            ExitCode::from(EX_USAGE)
        }
        Err(error) => {
            tracing::error!(error = %error, "edgeguard-proxy stopped");
            ExitCode::FAILURE
        }
    }
}

fn usage(errors: &config::ConfigErrors) -> ExitCode {
    eprint!("{errors}");
    ExitCode::from(EX_USAGE)
}
