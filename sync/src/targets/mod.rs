//! Where the secret lives besides Secrets Manager: acceptors (check it) and injectors
//! (send it). Each AWS target implements one of the two traits; the rotation steps only
//! see the traits, so tests can put fakes in their place.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::SyncError;
use crate::progress::Progress;
use crate::value::{Secret, TargetValue};

pub mod alb_rule;
#[cfg(test)]
mod api_doubles;
pub mod api_export;
#[cfg(test)]
mod api_gateway_tests;
pub mod cloudfront;
pub mod deployments;
pub mod http_api;
#[cfg(test)]
mod mocked_tests;
pub mod rest_api;
pub mod rules;
pub mod secrets_manager;
pub mod waf;
pub mod waf_statement;

/// A target's own rule for the values it can hold exactly, beyond the shared value rule
/// (`edgeguard_secret::Secret::new`). The rule a configuration enforces is the
/// intersection of its targets' rules: a value outside any of them is written nowhere.
#[derive(Debug, Clone, Copy)]
pub struct ValueRule {
    /// What the target can hold, for a refusal (never the value).
    pub says: &'static str,
    pub holds: fn(&str) -> bool,
}

/// Something that lets a request through only with an accepted value (the WAF rule, an
/// ALB listener rule's header condition).
/// The proxies are acceptors too, but follow the secret's stages by themselves.
#[async_trait]
pub trait Acceptor: Send + Sync {
    fn name(&self) -> &str;
    /// The values this target can hold exactly, if narrower than the shared rule.
    fn value_rule(&self) -> Option<ValueRule> {
        None
    }
    /// The values accepted now.
    async fn accepted(&self) -> Result<Vec<TargetValue>, SyncError>;
    /// Accept exactly `values`.
    async fn accept(&self, values: &[Secret]) -> Result<(), SyncError>;
    /// Refuses, before a rotation writes anything, when this target cannot hold `count`
    /// values at once (an ALB rule's 5-condition-value quota).
    async fn can_hold(&self, _count: usize) -> Result<(), SyncError> {
        Ok(())
    }
}

/// One place an injector sets the header (a stage, an integration, an origin), the value
/// it sends there (`None`: no header is set), and whether that value is in effect
/// everywhere (`false` while a CloudFront deployment is in progress, or while an API
/// stage's deployment has not taken: some requests may still carry the value before).
#[derive(Debug, Clone)]
pub struct Sent {
    pub location: String,
    pub value: Option<TargetValue>,
    pub settled: bool,
}

impl Sent {
    /// Sends `value`, in effect everywhere.
    pub fn settled_on(&self, value: &Secret) -> bool {
        self.settled && self.sends(value)
    }

    /// Sends `value` (perhaps not yet in effect everywhere).
    pub fn sends(&self, value: &Secret) -> bool {
        self.value.as_ref().is_some_and(|v| v.is(value))
    }
}

/// Something that adds the header to forwarded requests (API Gateway, CloudFront).
#[async_trait]
pub trait Injector: Send + Sync {
    fn name(&self) -> &str;
    /// The values this target can hold exactly, if narrower than the shared rule.
    fn value_rule(&self) -> Option<ValueRule> {
        None
    }
    /// What this target chose not to touch, each with why (an integration to another
    /// host, a Lambda integration): `status` lists them.
    async fn left_alone(&self) -> Result<Vec<String>, SyncError> {
        Ok(Vec::new())
    }
    /// What each location sends as it is served (a stage's deployment, not the API's
    /// working copy; a distribution's configuration with its deployment status).
    async fn sent(&self) -> Result<Vec<Sent>, SyncError>;
    /// Points every location at `value` and returns once it is in effect (CloudFront:
    /// Deployed; API stages: deployed), or fails when `deadline` runs out first.
    async fn send(
        &self,
        value: &Secret,
        deadline: Duration,
        progress: &dyn Progress,
    ) -> Result<(), SyncError>;
    /// Waits until what `sent` reports is in effect everywhere (CloudFront: Deployed).
    async fn wait_settled(&self, _deadline: Duration) -> Result<(), SyncError> {
        Ok(())
    }
}

/// At most this many pages of a paginated listing are read.
pub const MAX_PAGES: usize = 100;

/// Reads every page of a listing: `page(token)` returns a page's items and the token it
/// gave. Stops on no token, an empty one, or the one just used (some implementations
/// repeat the last token), and after [`MAX_PAGES`].
pub async fn paginate<T, F, Fut>(mut page: F) -> Result<Vec<T>, SyncError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), SyncError>>,
{
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let (items, returned) = page(token.clone()).await?;
        all.extend(items);
        let next = returned.filter(|t| !t.is_empty() && Some(t) != token.as_ref());
        if next.is_none() {
            break;
        }
        token = next;
    }
    Ok(all)
}

/// Bounded retries of optimistic-lock conflicts (WAF LockToken, CloudFront ETag).
pub const LOCK_RETRIES: usize = 8;

/// One read-modify-write attempt under an optimistic lock.
#[derive(Debug)]
pub enum Attempt {
    Done,
    /// Someone changed the resource between our read and our write: read again.
    Conflict,
}

/// Runs `attempt` (which reads, changes and writes with the lock it read) until it is
/// done, at most [`LOCK_RETRIES`] times.
pub async fn with_optimistic_lock<F, Fut>(
    target: &str,
    lock: &str,
    mut attempt: F,
) -> Result<(), SyncError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt, SyncError>>,
{
    for _ in 0..LOCK_RETRIES {
        match attempt().await? {
            Attempt::Done => return Ok(()),
            Attempt::Conflict => {
                tracing::debug!(
                    target,
                    "{lock} conflict: changed since it was read; reading again"
                );
            }
        }
    }
    Err(SyncError::Timeout(format!(
        "{target}: it kept changing under us ({LOCK_RETRIES} {lock} conflicts)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pagination_stops_on_a_repeated_or_empty_token() {
        let pages = [("a", Some("t1")), ("b", Some("t1")), ("c", None)];
        let mut calls = 0;
        let all = paginate(|_| {
            let (item, token) = pages[calls];
            calls += 1;
            async move { Ok((vec![item], token.map(str::to_owned))) }
        })
        .await
        .unwrap();
        assert_eq!(all, ["a", "b"], "the repeated token ends the listing");
        let mut calls = 0;
        let all = paginate(|_| {
            calls += 1;
            async move { Ok((vec![calls], Some(String::new()))) }
        })
        .await
        .unwrap();
        assert_eq!(all, [1]);
    }

    #[tokio::test]
    async fn lock_conflicts_are_retried_a_bounded_number_of_times() {
        let mut n = 0;
        with_optimistic_lock("t", "ETag", || {
            n += 1;
            async move {
                Ok(if n < 3 {
                    Attempt::Conflict
                } else {
                    Attempt::Done
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(n, 3);
        let e = with_optimistic_lock("t", "ETag", || async { Ok(Attempt::Conflict) })
            .await
            .unwrap_err();
        assert!(
            e.is_retryable() && e.to_string().contains("8 ETag conflicts"),
            "{e}"
        );
    }
}
