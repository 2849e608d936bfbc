//! An HTTP API (API Gateway v2) as an [`Injector`]: each integration's request parameter
//! `overwrite:header.<name>` (never `append`, which would add a second field). The full
//! parameter map is sent with the one key changed, so other mappings stay. The stage is
//! deployed afterwards unless it auto-deploys.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigatewayv2::Client;
use aws_sdk_apigatewayv2::types::Integration;

use super::{Injector, MAX_PAGES, Sent, next_page};
use crate::config::HttpApiTarget;
use crate::error::{SyncError, aws};
use crate::value::SecretValue;

#[derive(Debug, Clone)]
pub struct HttpApiInjector {
    client: Client,
    target: HttpApiTarget,
    header: String,
    name: String,
}

impl HttpApiInjector {
    pub fn new(client: Client, target: HttpApiTarget, header: &str) -> Self {
        let name = format!("http_api {}", target.api_id);
        Self {
            client,
            target,
            header: header.to_owned(),
            name,
        }
    }

    fn key(&self) -> String {
        format!("overwrite:header.{}", self.header)
    }

    async fn integrations(&self) -> Result<Vec<Integration>, SyncError> {
        let mut all = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .get_integrations()
                .api_id(&self.target.api_id)
                .set_next_token(next.clone())
                .send()
                .await
                .map_err(|e| aws(&self.name, "GetIntegrations", e))?;
            all.extend(page.items().iter().cloned());
            next = next_page(page.next_token(), next.as_deref());
            if next.is_none() {
                break;
            }
        }
        if self.target.integration_ids.is_empty() {
            return Ok(all);
        }
        let mut chosen = Vec::new();
        for id in &self.target.integration_ids {
            match all.iter().find(|i| i.integration_id() == Some(id.as_str())) {
                Some(i) => chosen.push(i.clone()),
                None => {
                    return Err(SyncError::Target {
                        target: self.name.clone(),
                        problem: format!("no integration {id}"),
                    });
                }
            }
        }
        Ok(chosen)
    }
}

#[async_trait]
impl Injector for HttpApiInjector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn sent(&self) -> Result<Vec<Sent>, SyncError> {
        let key = self.key();
        Ok(self
            .integrations()
            .await?
            .iter()
            .map(|i| Sent {
                location: format!("integration {}", i.integration_id().unwrap_or_default()),
                value: i
                    .request_parameters()
                    .and_then(|p| p.get(&key))
                    .map(|v| SecretValue::from_target(v.clone())),
                settled: true,
            })
            .collect())
    }

    async fn send(&self, value: &SecretValue, _deadline: Duration) -> Result<(), SyncError> {
        let key = self.key();
        for integration in self.integrations().await? {
            let mut parameters: HashMap<String, String> = integration
                .request_parameters()
                .cloned()
                .unwrap_or_default();
            if parameters.get(&key).map(String::as_str) == Some(value.expose()) {
                continue;
            }
            parameters.insert(key.clone(), value.expose().to_owned());
            self.client
                .update_integration()
                .api_id(&self.target.api_id)
                .integration_id(integration.integration_id().unwrap_or_default())
                .set_request_parameters(Some(parameters))
                .send()
                .await
                .map_err(|e| aws(&self.name, "UpdateIntegration", e))?;
        }
        let stage = self
            .client
            .get_stage()
            .api_id(&self.target.api_id)
            .stage_name(&self.target.stage)
            .send()
            .await
            .map_err(|e| aws(&self.name, "GetStage", e))?;
        if !stage.auto_deploy().unwrap_or(false) {
            self.client
                .create_deployment()
                .api_id(&self.target.api_id)
                .stage_name(&self.target.stage)
                .description("edgeguard-sync: origin-verify header")
                .send()
                .await
                .map_err(|e| aws(&self.name, "CreateDeployment", e))?;
        }
        Ok(())
    }
}
