//! Wires the parts together: bind, refresh, serve, and drain on SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::env::Env;
use crate::config::{Config, SourceSpec};
use crate::forward::{Upstream, UpstreamConfig};
use crate::gate::{Gate, GateConfig};
use crate::metrics::Listener;
use crate::secrets::{env::EnvSource, file::FileSource, refresher};
use crate::serve::{self, BindError, ConnLimits};
use crate::state::Shared;

/// The ALB's default idle timeout: the proxy's must be longer.
const ALB_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot install the signal handlers: {0}")]
    Signals(#[source] std::io::Error),
}

/// Runs the proxy until SIGTERM or SIGINT, then drains for at most the shutdown grace.
pub async fn run(config: Config, env: &dyn Env) -> Result<(), RunError> {
    // Before binding: a SIGTERM that arrives during start-up must drain, not kill.
    let mut sigterm = signal(SignalKind::terminate()).map_err(RunError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(RunError::Signals)?;

    if config.idle_timeout <= ALB_IDLE_TIMEOUT {
        tracing::warn!(
            idle_timeout = ?config.idle_timeout,
            "the idle timeout should exceed the ALB's (60 s by default), or the ALB may reuse a closed connection and answer 502"
        );
    }

    let shared = Arc::new(Shared::default());
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();

    let admin = serve::bind("admin", config.admin_listen).await?;
    let enforcing = serve::bind("enforcing", config.listen).await?;
    let internal = match config.internal_listen {
        Some(addr) => Some(serve::bind("internal", addr).await?),
        None => None,
    };

    let refresh = shutdown.clone();
    match &config.secret_source {
        SourceSpec::File(path) => {
            let source = FileSource::new(path.clone());
            tokio::spawn(refresher::run(
                source,
                shared.clone(),
                config.refresh_interval,
                refresh,
            ));
        }
        SourceSpec::Env(var) => {
            let source = EnvSource::new(var, env);
            tokio::spawn(refresher::run(
                source,
                shared.clone(),
                config.refresh_interval,
                refresh,
            ));
        }
    }

    let upstream = Upstream::new(&UpstreamConfig {
        scheme: config.upstream_scheme.clone(),
        authority: config.upstream_authority.clone(),
        connect_timeout: config.upstream_connect_timeout,
        timeout: config.upstream_timeout,
        pool_idle_timeout: config.upstream_pool_idle_timeout,
    });
    let gate_config = Arc::new(GateConfig {
        header: config.header.clone(),
        health_paths: config.health_paths.clone(),
    });
    let limits = Arc::new(ConnLimits {
        idle_timeout: config.idle_timeout,
        header_read_timeout: config.header_read_timeout,
        max_header_bytes: config.max_header_bytes,
    });
    let slots = Arc::new(Semaphore::new(config.max_connections));

    log_listening("admin", &admin);
    tokio::spawn(crate::admin::serve(admin, shared.clone()));
    let mut listeners = vec![(Listener::Enforcing, enforcing)];
    listeners.extend(internal.map(|l| (Listener::Internal, l)));
    let mut accept_loops = Vec::new();
    for (kind, listener) in listeners {
        log_listening(kind.as_str(), &listener);
        let gate = Gate::new(kind, gate_config.clone(), shared.clone(), upstream.clone());
        accept_loops.push(tokio::spawn(serve::serve(
            listener,
            gate,
            limits.clone(),
            slots.clone(),
            shutdown.clone(),
            tracker.clone(),
        )));
    }
    shared.set_bound();

    let signal_name = tokio::select! {
        _ = sigterm.recv() => "SIGTERM",
        _ = sigint.recv() => "SIGINT",
    };
    tracing::info!(signal = signal_name, grace = ?config.shutdown_grace, "shutting down: draining connections");
    shared.set_draining();
    shutdown.cancel();
    for accept_loop in accept_loops {
        // The accept loops return at once on cancel; their listeners close with them.
        let _ = accept_loop.await;
    }
    tracker.close();
    match tokio::time::timeout(config.shutdown_grace, tracker.wait()).await {
        Ok(()) => tracing::info!("drained; exiting"),
        Err(_) => tracing::warn!(
            open_connections = tracker.len(),
            "shutdown grace over with connections still open; exiting"
        ),
    }
    Ok(())
}

fn log_listening(name: &str, listener: &tokio::net::TcpListener) {
    match listener.local_addr() {
        Ok(addr) => tracing::info!(listener = name, addr = %addr, "listening"),
        Err(error) => tracing::warn!(listener = name, %error, "listening on an unknown address"),
    }
}
