//! Tracing set-up: JSON lines for CloudWatch (awslogs), or text on a terminal.

use std::io::IsTerminal;

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, FilterFn, filter_fn};
use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Config, LogFormat};

/// Drops the AWS SDK's TRACE events whatever the filter says: at trace it logs whole
/// deserialized responses. Secrets Manager's SecretString is modelled as sensitive
/// (redacted), but no secret should depend on that. A second filter, combined with the
/// user's: it can only remove events. (edgeguard-sync has the same in its `logging`
/// module; the two binaries share no crate.)
fn no_sdk_trace() -> FilterFn<impl Fn(&Metadata<'_>) -> bool> {
    filter_fn(|m| !(m.target().starts_with("aws_") && *m.level() == Level::TRACE))
}

/// Installs the global subscriber, writing to stdout. The filter was validated with the
/// rest of the configuration.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let format = config
        .log_format
        .unwrap_or(if std::io::stdout().is_terminal() {
            LogFormat::Text
        } else {
            LogFormat::Json
        });
    // Global filters, not per-layer ones: there is one output, and with per-layer
    // filters the registry keeps every span, so the debug-level connection span was
    // looked up on each poll of each connection (1.4 % of the proxy's CPU under load).
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(no_sdk_trace());
    let _ = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stdout),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stdout))
            .try_init(),
    };
}
