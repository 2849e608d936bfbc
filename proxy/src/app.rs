//! Wires the parts together: bind, refresh, serve, and drain on SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::env::Env;
use crate::config::{Config, SourceSpec};
use crate::forward::{Upstream, UpstreamConfig};
use crate::gate::{Gate, GateConfig};
use crate::h1;
use crate::labels::ListenerKind;
use crate::report::Mode;
use crate::secrets::secretsmanager::{self, SecretsManagerSource};
use crate::secrets::{env::EnvSource, file::FileSource, refresher};
use crate::serve::{self, BindError, ConnLimits, ListenerCtx};
use crate::state::ProxyState;
use crate::tls::{self, CertStore, TlsError, TlsSpec};

/// The ALB's default idle timeout: the proxy's must be longer.
const ALB_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often report mode says it is still not enforcing.
const REPORT_REMINDER: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot install the signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// A problem only found at start (exit 64, like any configuration error).
    #[error("configuration error: {0}")]
    Config(String),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
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

    let stack = Stack::new(&config);
    let state = &stack.state;

    let admin = serve::bind("admin", config.admin_listen).await?;
    let enforcing = serve::bind("enforcing", config.listen).await?;
    let internal = match config.internal_listen {
        Some(addr) => Some(serve::bind("internal", addr).await?),
        None => None,
    };

    spawn_refresher(&config, env, state, &stack.shutdown).await?;
    // Stopped after the drain, so that its last records count the drained requests.
    let emf_stop = CancellationToken::new();
    let emf = config.emf.as_ref().map(|spec| {
        tokio::spawn(crate::metrics::emf::run(
            state.clone(),
            spec.namespace.clone(),
            spec.interval,
            emf_stop.clone(),
        ))
    });

    if let Some(reporter) = &stack.gate_config.report {
        tokio::spawn(crate::report::remind(
            reporter.clone(),
            REPORT_REMINDER,
            stack.shutdown.clone(),
        ));
    }

    log_listening("admin", &admin, false);
    tokio::spawn(crate::admin::serve(admin, state.clone()));
    let mut listeners = vec![(ListenerKind::Enforcing, enforcing, config.tls.clone())];
    if let Some(internal) = internal {
        listeners.push((
            ListenerKind::Internal,
            internal,
            config.internal_tls.clone(),
        ));
    }
    let mut accept_loops = Vec::new();
    for (kind, listener, tls_spec) in listeners {
        let tls = match &tls_spec {
            Some(spec) => Some(acceptor(spec, &config, state, &stack.shutdown)?),
            None => None,
        };
        log_listening(kind.as_str(), &listener, tls.is_some());
        accept_loops.push(stack.serve(kind, listener, tls));
    }
    state.set_bound();

    let signal_name = tokio::select! {
        _ = sigterm.recv() => "SIGTERM",
        _ = sigint.recv() => "SIGINT",
    };
    tracing::info!(signal = signal_name, grace = ?config.shutdown_grace, "shutting down: draining connections");
    state.set_draining();
    stack.shutdown.cancel();
    for accept_loop in accept_loops {
        // The accept loops return at once on cancel; their listeners close with them.
        let _ = accept_loop.await;
    }
    let tracker = &stack.tracker;
    tracker.close();
    match tokio::time::timeout(config.shutdown_grace, tracker.wait()).await {
        Ok(()) => tracing::info!("drained; exiting"),
        Err(_) => tracing::warn!(
            open_connections = tracker.len(),
            "shutdown grace over with connections still open; exiting"
        ),
    }
    emf_stop.cancel();
    if let Some(emf) = emf {
        let _ = emf.await;
    }
    Ok(())
}

/// The request-serving stack of one proxy, built from its configuration in one place: what
/// `run` serves its listeners with, and what the request-path bench and the fuzz target
/// serve with, so that they measure and attack the binary's own wiring.
#[derive(Debug)]
pub struct Stack {
    /// The accepted values (empty until a source is read: requests get 503), metrics.
    pub state: Arc<ProxyState>,
    upstream: Upstream,
    gate_config: Arc<GateConfig>,
    limits: Arc<ConnLimits>,
    /// The HTTP/1.1 fast path's shared app connections (`h1`).
    fast_pool: Arc<h1::Pool>,
    /// `--max-connections`, shared by the listeners.
    slots: Arc<Semaphore>,
    /// Cancelled to stop accepting and drain.
    pub shutdown: CancellationToken,
    /// Every connection's task, to wait for in the drain.
    pub tracker: TaskTracker,
}

impl Stack {
    pub fn new(config: &Config) -> Self {
        let state = Arc::new(ProxyState::default());
        let reporting = config.mode == Mode::Report;
        state.metrics.set_enforcing(!reporting);
        Self {
            state,
            upstream: Upstream::new(&UpstreamConfig {
                scheme: config.upstream_scheme.clone(),
                authority: config.upstream_authority.clone(),
                target: config.upstream_target.clone(),
                connect_timeout: config.upstream_connect_timeout,
                timeout: config.upstream_timeout,
                pool_idle_timeout: config.upstream_pool_idle_timeout,
            }),
            gate_config: Arc::new(GateConfig {
                header: config.header.clone(),
                health_paths: config.health_paths.clone(),
                report: reporting.then(Arc::default),
            }),
            limits: Arc::new(ConnLimits {
                idle_timeout: config.idle_timeout,
                header_read_timeout: config.header_read_timeout,
                max_header_bytes: config.max_header_bytes,
                tls_handshake_timeout: config.tls_handshake_timeout,
                // Report mode logs what it reads of hyper's request: hyper's path only.
                h1_fast_path: config.h1_fast_path && !reporting,
            }),
            fast_pool: Arc::new(h1::Pool::new(config.upstream_pool_idle_timeout)),
            slots: Arc::new(Semaphore::new(config.max_connections)),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }

    /// Serves `listener` as a `kind` listener (HTTPS with `tls`) until `shutdown`; the
    /// handle is its accept loop's.
    pub fn serve(
        &self,
        kind: ListenerKind,
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
    ) -> JoinHandle<()> {
        let ctx = ListenerCtx {
            gate: Gate::new(
                kind,
                self.gate_config.clone(),
                self.state.clone(),
                self.upstream.clone(),
            ),
            limits: self.limits.clone(),
            tls,
            fast_pool: self.fast_pool.clone(),
        };
        tokio::spawn(serve::serve(
            listener,
            ctx,
            self.slots.clone(),
            self.shutdown.clone(),
            self.tracker.clone(),
        ))
    }
}

/// Starts the refresher for the configured source (the first read happens at once).
async fn spawn_refresher(
    config: &Config,
    env: &dyn Env,
    state: &Arc<ProxyState>,
    shutdown: &CancellationToken,
) -> Result<(), RunError> {
    let (state, interval, stop) = (state.clone(), config.refresh_interval, shutdown.clone());
    match &config.secret_source {
        SourceSpec::File(path) => {
            tokio::spawn(refresher::run(
                FileSource::new(path.clone()),
                state,
                interval,
                stop,
            ));
        }
        SourceSpec::Env(var) => {
            tokio::spawn(refresher::run(
                EnvSource::new(var, env),
                state,
                interval,
                stop,
            ));
        }
        SourceSpec::SecretsManager(id) => {
            let client = secrets_manager_client(id).await?;
            let source = SecretsManagerSource::new(client, id, config.header.as_str());
            tokio::spawn(refresher::run(source, state, interval, stop));
        }
    }
    Ok(())
}

/// A Secrets Manager client from the standard AWS chain (ECS task role, environment,
/// profile; `AWS_ENDPOINT_URL*` overrides), with bounded call times.
async fn secrets_manager_client(
    secret_id: &str,
) -> Result<aws_sdk_secretsmanager::Client, RunError> {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(15))
        .build();
    let mut sdk = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await;
    if sdk.region().is_none() {
        let Some(region) = secretsmanager::arn_region(secret_id) else {
            return Err(RunError::Config(
                "--secret-source (EDGEGUARD_SECRET_SOURCE): no AWS region: set AWS_REGION or give the secret's ARN".into(),
            ));
        };
        sdk = sdk
            .into_builder()
            .region(aws_config::Region::new(region.to_owned()))
            .build();
    }
    Ok(aws_sdk_secretsmanager::Client::new(&sdk))
}

/// The TLS acceptor of a listener; a certificate from files is reloaded when it changes.
fn acceptor(
    spec: &TlsSpec,
    config: &Config,
    state: &Arc<ProxyState>,
    shutdown: &CancellationToken,
) -> Result<TlsAcceptor, RunError> {
    let store = match spec {
        TlsSpec::SelfSigned => CertStore::new(tls::self_signed()?),
        TlsSpec::Files { cert, key } => {
            let store = CertStore::new(tls::load_pair(cert, key)?);
            tokio::spawn(tls::reload(
                store.clone(),
                cert.clone(),
                key.clone(),
                config.refresh_interval,
                state.clone(),
                shutdown.clone(),
            ));
            store
        }
    };
    Ok(TlsAcceptor::from(store.server_config()))
}

fn log_listening(name: &str, listener: &TcpListener, tls: bool) {
    match listener.local_addr() {
        Ok(addr) => tracing::info!(listener = name, addr = %addr, tls, "listening"),
        Err(error) => tracing::warn!(listener = name, %error, "listening on an unknown address"),
    }
}
