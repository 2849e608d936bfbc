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

/// Lines held while stdout is slow (the log driver, awslogs in blocking mode, stalled):
/// about 2 MB at the size of a log line; past them lines are dropped, never waited for.
const HELD_LINES: usize = 8192;

/// Installs the global subscriber, writing to stdout from a thread of its own. A log line
/// must never hold a request: with the awslogs driver in `blocking` mode (which the
/// embedded metrics need, docs/proxy.md) a write to stdout waits while CloudWatch Logs
/// does, so lines go through a bounded queue to a writer thread (tracing-appender) and are
/// dropped, lossy, when it is full. The EMF records do not go this way: they are counts,
/// written by their own task, and are never dropped. Keep the returned guard until exit:
/// dropping it flushes what is queued. The filter was validated with the rest of the
/// configuration.
pub fn init(config: &Config) -> tracing_appender::non_blocking::WorkerGuard {
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
    // looked up on each poll of each connection (measured: docs/performance.md).
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(no_sdk_trace());
    let (stdout, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(HELD_LINES)
        .lossy(true)
        .thread_name("edgeguard-log")
        .finish(std::io::stdout());
    let _ = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(stdout),
            )
            .try_init(),
        LogFormat::Text => registry.with(fmt::layer().with_writer(stdout)).try_init(),
    };
    guard
}
