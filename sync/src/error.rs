//! The library's error: what failed, where, and whether trying again may help.

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use edgeguard_secret::RandomError;

/// An SDK error, kept whole as the source.
pub type AwsSource = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// An AWS call failed. `retryable`: throttling, a timeout, a 5xx, a network error.
    #[error("{target}: {operation} failed: {}", DisplayErrorContext(source.as_ref()))]
    Aws {
        target: String,
        operation: &'static str,
        /// The service's error code (`TooManyRequestsException`, …), when it gave one.
        code: Option<String>,
        retryable: bool,
        #[source]
        source: AwsSource,
    },
    /// Refused before changing anything (a missing WAF rule, a stale AWSPENDING, …).
    #[error("refused: {0}")]
    Refused(String),
    /// A target is not in a shape this tool can manage (rule edited by hand, origin gone).
    #[error("{target}: {problem}")]
    Target { target: String, problem: String },
    #[error(transparent)]
    Random(#[from] RandomError),
    /// A bounded wait ran out (CloudFront deployment, optimistic-lock retries).
    #[error("{0}")]
    Timeout(String),
    #[error("probe {url}: {problem}")]
    Probe { url: String, problem: String },
}

impl SyncError {
    /// Whether the same step may succeed if simply run again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Aws { retryable, .. } => *retryable,
            Self::Timeout(_) | Self::Probe { .. } => true,
            Self::Refused(_) | Self::Target { .. } | Self::Random(_) => false,
        }
    }

    /// Whether AWS throttled the call (API Gateway's CreateDeployment quota among others).
    pub fn is_throttling(&self) -> bool {
        matches!(self, Self::Aws { code: Some(code), .. }
            if code == "TooManyRequestsException" || code.contains("Throttl"))
    }
}

/// Turns an SDK error into [`SyncError::Aws`], with its context (never a request body).
pub fn aws<E>(target: &str, operation: &'static str, error: SdkError<E, HttpResponse>) -> SyncError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    let code = error.code().map(str::to_owned);
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            let code = code.as_deref().unwrap_or_default();
            status >= 500
                || status == 429
                || code.contains("Throttl")
                || code == "TooManyRequestsException"
                || code.starts_with("ServiceUnavailable")
                || code.starts_with("InternalServer")
                || code == "InternalFailure"
        }
        _ => false,
    };
    SyncError::Aws {
        target: target.to_owned(),
        operation,
        code,
        retryable,
        source: Box::new(error),
    }
}
