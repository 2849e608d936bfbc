//! A REST API (API Gateway v1) as an [`Injector`], in one of two modes:
//!
//! - `stage_variable`: the integrations map the header from `stageVariables.<variable>`;
//!   changing the variable on each stage takes effect at once, no deployment.
//! - `integration`: every HTTP/HTTP_PROXY integration carries the literal in
//!   `integration.request.header.<name>`; a change is UpdateIntegration on each, then
//!   CreateDeployment on each listed stage.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigateway::Client;
use aws_sdk_apigateway::types::{IntegrationType, Op, PatchOperation};

use super::{Injector, MAX_PAGES, Sent, next_page};
use crate::config::{RestApiMode, RestApiTarget};
use crate::error::{SyncError, aws};
use crate::value::SecretValue;

#[derive(Debug, Clone)]
pub struct RestApiInjector {
    client: Client,
    target: RestApiTarget,
    header: String,
    name: String,
}

/// One HTTP integration of the API: where its literal is.
struct Integration {
    resource_id: String,
    path: String,
    http_method: String,
    literal: Option<String>,
}

impl RestApiInjector {
    pub fn new(client: Client, target: RestApiTarget, header: &str) -> Self {
        let name = format!("rest_api {}", target.api_id);
        Self {
            client,
            target,
            header: header.to_owned(),
            name,
        }
    }

    fn parameter(&self) -> String {
        format!("integration.request.header.{}", self.header)
    }

    fn variable(&self) -> &str {
        self.target.variable.as_deref().unwrap_or_default()
    }

    async fn integrations(&self) -> Result<Vec<Integration>, SyncError> {
        let mut found = Vec::new();
        let mut position: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .get_resources()
                .rest_api_id(&self.target.api_id)
                .embed("methods")
                .limit(500)
                .set_position(position.clone())
                .send()
                .await
                .map_err(|e| aws(&self.name, "GetResources", e))?;
            for resource in page.items() {
                let Some(methods) = resource.resource_methods() else {
                    continue;
                };
                for (http_method, method) in methods {
                    let Some(integration) = method.method_integration() else {
                        continue;
                    };
                    if !matches!(
                        integration.r#type(),
                        Some(IntegrationType::Http | IntegrationType::HttpProxy)
                    ) {
                        continue;
                    }
                    let literal = integration
                        .request_parameters()
                        .and_then(|p| p.get(&self.parameter()))
                        .map(|v| v.trim_matches('\'').to_owned());
                    found.push(Integration {
                        resource_id: resource.id().unwrap_or_default().to_owned(),
                        path: resource.path().unwrap_or_default().to_owned(),
                        http_method: http_method.clone(),
                        literal,
                    });
                }
            }
            position = next_page(page.position(), position.as_deref());
            if position.is_none() {
                break;
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl Injector for RestApiInjector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn sent(&self) -> Result<Vec<Sent>, SyncError> {
        match self.target.mode {
            RestApiMode::StageVariable => {
                let mut sent = Vec::new();
                for stage in &self.target.stages {
                    let out = self
                        .client
                        .get_stage()
                        .rest_api_id(&self.target.api_id)
                        .stage_name(stage)
                        .send()
                        .await
                        .map_err(|e| aws(&self.name, "GetStage", e))?;
                    let value = out
                        .variables()
                        .and_then(|v| v.get(self.variable()))
                        .cloned();
                    sent.push(Sent {
                        location: format!("stage {stage} variable {}", self.variable()),
                        value: value.map(SecretValue::from_target),
                        settled: true,
                    });
                }
                Ok(sent)
            }
            RestApiMode::Integration => Ok(self
                .integrations()
                .await?
                .into_iter()
                .map(|i| Sent {
                    location: format!("{} {}", i.http_method, i.path),
                    value: i.literal.map(SecretValue::from_target),
                    settled: true,
                })
                .collect()),
        }
    }

    async fn send(&self, value: &SecretValue, _deadline: Duration) -> Result<(), SyncError> {
        match self.target.mode {
            RestApiMode::StageVariable => {
                for stage in &self.target.stages {
                    let op = PatchOperation::builder()
                        .op(Op::Replace)
                        .path(format!("/variables/{}", self.variable()))
                        .value(value.expose())
                        .build();
                    self.client
                        .update_stage()
                        .rest_api_id(&self.target.api_id)
                        .stage_name(stage)
                        .patch_operations(op)
                        .send()
                        .await
                        .map_err(|e| aws(&self.name, "UpdateStage", e))?;
                }
            }
            RestApiMode::Integration => {
                let integrations = self.integrations().await?;
                if integrations.is_empty() {
                    return Err(SyncError::Target {
                        target: self.name.clone(),
                        problem: "no HTTP or HTTP_PROXY integration to carry the header".into(),
                    });
                }
                for i in integrations
                    .iter()
                    .filter(|i| i.literal.as_deref() != Some(value.expose()))
                {
                    let op = PatchOperation::builder()
                        .op(if i.literal.is_some() {
                            Op::Replace
                        } else {
                            Op::Add
                        })
                        .path(format!("/requestParameters/{}", self.parameter()))
                        .value(format!("'{}'", value.expose()))
                        .build();
                    self.client
                        .update_integration()
                        .rest_api_id(&self.target.api_id)
                        .resource_id(&i.resource_id)
                        .http_method(&i.http_method)
                        .patch_operations(op)
                        .send()
                        .await
                        .map_err(|e| aws(&self.name, "UpdateIntegration", e))?;
                }
                for stage in &self.target.stages {
                    self.client
                        .create_deployment()
                        .rest_api_id(&self.target.api_id)
                        .stage_name(stage)
                        .description("edgeguard-sync: origin-verify header")
                        .send()
                        .await
                        .map_err(|e| aws(&self.name, "CreateDeployment", e))?;
                }
            }
        }
        Ok(())
    }
}
