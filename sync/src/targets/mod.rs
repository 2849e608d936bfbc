//! Where the secret lives besides Secrets Manager: acceptors (check it) and injectors
//! (send it). Each AWS target implements one of the two traits; the rotation steps only
//! see the traits, so tests can put fakes in their place.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::SyncError;
use crate::value::SecretValue;

pub mod cloudfront;
pub mod http_api;
#[cfg(test)]
mod mocked_tests;
pub mod rest_api;
pub mod secrets_manager;
pub mod waf;
pub mod waf_statement;

/// Something that lets a request through only with an accepted value (the WAF rule).
/// The proxies are acceptors too, but follow the secret's stages by themselves.
#[async_trait]
pub trait Acceptor: Send + Sync {
    fn name(&self) -> &str;
    /// The values accepted now.
    async fn accepted(&self) -> Result<Vec<SecretValue>, SyncError>;
    /// Accept exactly `values`.
    async fn accept(&self, values: &[SecretValue]) -> Result<(), SyncError>;
}

/// One place an injector sets the header (a stage, an integration, an origin), the value
/// it sends there (`None`: no header is set), and whether that value is in effect
/// everywhere (`false` while a CloudFront deployment is in progress: some edges may still
/// send the value before).
#[derive(Debug, Clone)]
pub struct Sent {
    pub location: String,
    pub value: Option<SecretValue>,
    pub settled: bool,
}

/// Something that adds the header to forwarded requests (API Gateway, CloudFront).
#[async_trait]
pub trait Injector: Send + Sync {
    fn name(&self) -> &str;
    async fn sent(&self) -> Result<Vec<Sent>, SyncError>;
    /// Points every location at `value` and returns once it is in effect (CloudFront:
    /// Deployed), or fails when `deadline` runs out first.
    async fn send(&self, value: &SecretValue, deadline: Duration) -> Result<(), SyncError>;
    /// Waits until what `sent` reports is in effect everywhere (CloudFront: Deployed).
    async fn wait_settled(&self, _deadline: Duration) -> Result<(), SyncError> {
        Ok(())
    }
}

/// At most this many pages of a paginated listing are read.
pub const MAX_PAGES: usize = 100;

/// The token for the next page, or `None` when the listing is over: no token, an empty
/// one, or the one just used (some implementations repeat the last token).
pub fn next_page(returned: Option<&str>, used: Option<&str>) -> Option<String> {
    returned
        .filter(|t| !t.is_empty() && Some(*t) != used)
        .map(str::to_owned)
}

/// Bounded retries of optimistic-lock conflicts (WAF LockToken, CloudFront ETag).
pub const LOCK_RETRIES: usize = 8;
