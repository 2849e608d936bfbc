//! Logging that keeps secret values out at every level.

use std::io::IsTerminal;

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, FilterFn, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Drops the AWS SDK's TRACE events, whatever the user's filter says: at trace it logs
/// whole deserialized responses, and API Gateway stage variables and HTTP API integration
/// parameters (which carry the header value) are not modelled as sensitive, so they would
/// appear in clear. A second filter, combined with the user's: it can only remove events.
pub fn no_sdk_trace() -> FilterFn<impl Fn(&Metadata<'_>) -> bool> {
    filter_fn(|m| !(m.target().starts_with("aws_") && *m.level() == Level::TRACE))
}

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Text; colour only when stderr is a terminal (never escapes in a pipe or a file).
    Text,
    /// One JSON object per line (the Lambda: CloudWatch Logs Insights reads the fields).
    Json,
}

/// Logs on stderr, level from `filter` (default `warn`).
pub fn init(filter: Option<String>, format: Format) {
    let filter = || {
        EnvFilter::try_new(filter.as_deref().unwrap_or("warn"))
            .unwrap_or_else(|_| EnvFilter::new("warn"))
    };
    let layer = match format {
        Format::Text => fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter())
            .with_filter(no_sdk_trace())
            .boxed(),
        Format::Json => fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_filter(filter())
            .with_filter(no_sdk_trace())
            .boxed(),
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
