//! A CloudFront distribution as an [`Injector`]: the custom header of each listed origin.
//! GetDistributionConfig → change the header on those origins only → UpdateDistribution
//! with If-Match; PreconditionFailed → read again and retry (bounded); then wait for
//! `Deployed` within the deadline before reporting success.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::types::{CustomHeaders, DistributionConfig, OriginCustomHeader};

use super::{Attempt, Injector, Sent, ValueRule, with_optimistic_lock};
use crate::config::CloudFrontTarget;
use crate::error::{SyncError, aws};
use crate::progress::Progress;
use crate::value::{Secret, TargetValue};

/// How often the deployment status is asked while waiting.
const DEPLOY_POLL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct CloudFrontInjector {
    client: Client,
    target: CloudFrontTarget,
    header: String,
    name: String,
    poll: Duration,
}

impl CloudFrontInjector {
    /// Names the account and region this target is called in (status, plan, errors).
    pub fn located(mut self, place: &str) -> Self {
        self.name = format!("{} ({place})", self.name);
        self
    }

    pub fn new(client: Client, target: CloudFrontTarget, header: &str) -> Self {
        let name = format!("cloudfront {}", target.distribution_id);
        Self {
            client,
            target,
            header: header.to_owned(),
            name,
            poll: DEPLOY_POLL,
        }
    }

    /// A shorter status poll (tests with compressed timings).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    async fn read(&self) -> Result<(DistributionConfig, String), SyncError> {
        let out = self
            .client
            .get_distribution_config()
            .id(&self.target.distribution_id)
            .send()
            .await
            .map_err(|e| aws(&self.name, "GetDistributionConfig", e))?;
        let config = out.distribution_config().cloned().ok_or_else(|| {
            self.problem("GetDistributionConfig returned no configuration".into())
        })?;
        Ok((config, out.e_tag().unwrap_or_default().to_owned()))
    }

    fn problem(&self, problem: String) -> SyncError {
        SyncError::Target {
            target: self.name.clone(),
            problem,
        }
    }

    fn missing_origins(&self, config: &DistributionConfig) -> Option<SyncError> {
        let ids: Vec<&str> = config
            .origins()
            .map(|o| o.items().iter().map(|i| i.id()).collect())
            .unwrap_or_default();
        let missing: Vec<&String> = self
            .target
            .origin_ids
            .iter()
            .filter(|id| !ids.contains(&id.as_str()))
            .collect();
        (!missing.is_empty())
            .then(|| self.problem(format!("no origin {missing:?} in the distribution")))
    }

    /// `config` with the header set to `value` on the listed origins, other headers kept.
    #[expect(
        clippy::expect_used,
        reason = "the SDK builders fail only on unset required fields, all set here"
    )]
    fn with_header(&self, mut config: DistributionConfig, value: &Secret) -> DistributionConfig {
        if let Some(origins) = config.origins.as_mut() {
            for origin in origins
                .items
                .iter_mut()
                .filter(|o| self.target.origin_ids.contains(&o.id))
            {
                let mut items: Vec<OriginCustomHeader> = origin
                    .custom_headers()
                    .map(|h| h.items().to_vec())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|h| !h.header_name().eq_ignore_ascii_case(&self.header))
                    .collect();
                items.push(
                    OriginCustomHeader::builder()
                        .header_name(&self.header)
                        .header_value(value.expose_str())
                        .build()
                        .expect("fields are set"),
                );
                origin.custom_headers = Some(
                    CustomHeaders::builder()
                        .quantity(items.len() as i32)
                        .set_items(Some(items))
                        .build()
                        .expect("quantity is set"),
                );
            }
        }
        config
    }

    async fn status(&self) -> Result<String, SyncError> {
        let out = self
            .client
            .get_distribution()
            .id(&self.target.distribution_id)
            .send()
            .await
            .map_err(|e| aws(&self.name, "GetDistribution", e))?;
        Ok(out
            .distribution()
            .map(|d| d.status().to_owned())
            .unwrap_or_default())
    }

    async fn wait_deployed(&self, deadline: Instant) -> Result<(), SyncError> {
        loop {
            let status = self.status().await?;
            if status == "Deployed" {
                return Ok(());
            }
            if Instant::now() + self.poll > deadline {
                return Err(SyncError::Timeout(format!(
                    "{}: still {status} at the deployment deadline; run the step again to keep waiting",
                    self.name
                )));
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

#[async_trait]
impl Injector for CloudFrontInjector {
    fn name(&self) -> &str {
        &self.name
    }

    fn value_rule(&self) -> Option<ValueRule> {
        Some(super::rules::CLOUDFRONT_HEADER)
    }

    async fn sent(&self) -> Result<Vec<Sent>, SyncError> {
        let (config, _) = self.read().await?;
        if let Some(e) = self.missing_origins(&config) {
            return Err(e);
        }
        let settled = self.status().await? == "Deployed";
        let origins = config
            .origins()
            .map(|o| o.items().to_vec())
            .unwrap_or_default();
        Ok(origins
            .iter()
            .filter(|o| self.target.origin_ids.contains(&o.id))
            .map(|o| Sent {
                location: format!("origin {}", o.id()),
                value: o
                    .custom_headers()
                    .and_then(|h| {
                        h.items()
                            .iter()
                            .find(|h| h.header_name().eq_ignore_ascii_case(&self.header))
                    })
                    .map(|h| TargetValue::new(h.header_value())),
                settled,
            })
            .collect())
    }

    async fn wait_settled(&self, deadline: Duration) -> Result<(), SyncError> {
        self.wait_deployed(Instant::now() + deadline).await
    }

    async fn send(
        &self,
        value: &Secret,
        deadline: Duration,
        _progress: &dyn Progress,
    ) -> Result<(), SyncError> {
        let deadline = Instant::now() + deadline;
        with_optimistic_lock(&self.name, "ETag", || async {
            let (config, etag) = self.read().await?;
            if let Some(e) = self.missing_origins(&config) {
                return Err(e);
            }
            let updated = self
                .client
                .update_distribution()
                .id(&self.target.distribution_id)
                .if_match(etag)
                .distribution_config(self.with_header(config, value))
                .send()
                .await;
            match updated {
                Ok(_) => Ok(Attempt::Done),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_precondition_failed()) =>
                {
                    Ok(Attempt::Conflict)
                }
                Err(e) => Err(aws(&self.name, "UpdateDistribution", e)),
            }
        })
        .await?;
        self.wait_deployed(deadline).await
    }
}
