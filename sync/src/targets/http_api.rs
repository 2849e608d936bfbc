//! An HTTP API (API Gateway v2) as an [`Injector`]: each chosen integration's request
//! parameter `overwrite:header.<name>` (never `append`, which would add a second field).
//! The full parameter map is sent with the one key changed, so other mappings stay.
//!
//! Chosen integrations: the listed `integration_ids`, each of which must be HTTP_PROXY;
//! none listed means every HTTP_PROXY integration (VPC link ones included). AWS_PROXY
//! integrations (Lambda, AWS services) cannot send the header and must never get the
//! secret: they are never touched.
//!
//! What a stage serves:
//! - auto-deploy: API Gateway deploys every change itself; the working copy is served once
//!   the stage's deployment (`DeploymentId`) is `DEPLOYED` and `LastDeploymentStatusMessage`
//!   reports no failure. Until then the location is not settled.
//! - otherwise: nothing changes until CreateDeployment. The stage's export
//!   (ExportApi with `StageName`) shows what each route serves; a change is deployed only
//!   after checking that the deployment would publish nothing but this tool's mapping.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigatewayv2::Client;
use aws_sdk_apigatewayv2::types::{DeploymentStatus, Integration, IntegrationType};
use tokio::time::Instant;

use super::api_export::{Export, IntegrationView};
use super::deployments::DeploymentPacer;
use super::{Injector, Sent, paginate};
use crate::config::HttpApiTarget;
use crate::error::{SyncError, aws};
use crate::rotation::Progress;
use crate::value::{Secret, TargetValue};

/// How often an auto-deploy stage or a new deployment is asked about while waiting.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct HttpApiInjector {
    client: Client,
    target: HttpApiTarget,
    header: String,
    name: String,
    pacer: Arc<DeploymentPacer>,
    publish_pending_changes: bool,
}

/// The stage as it matters here.
struct Stage {
    auto_deploy: bool,
    /// Whether the stage's deployment is in effect (auto-deploy stages).
    deployed: bool,
    /// `LastDeploymentStatusMessage`, when it reports a failed deployment.
    failure: Option<String>,
}

/// A route: its key as `(path, METHOD)` and the integration it targets.
struct Route {
    key: String,
    path: String,
    method: String,
    integration_id: String,
}

impl HttpApiInjector {
    pub fn new(
        client: Client,
        target: HttpApiTarget,
        header: &str,
        pacer: Arc<DeploymentPacer>,
    ) -> Self {
        let name = format!("http_api {}", target.api_id);
        Self {
            client,
            target,
            header: header.to_owned(),
            name,
            pacer,
            publish_pending_changes: false,
        }
    }

    /// Deploy even when the working copy holds other changes (`--publish-pending-changes`).
    pub fn publishing_pending_changes(mut self, yes: bool) -> Self {
        self.publish_pending_changes = yes;
        self
    }

    fn key(&self) -> String {
        format!("overwrite:header.{}", self.header)
    }

    fn problem(&self, problem: String) -> SyncError {
        SyncError::Target {
            target: self.name.clone(),
            problem,
        }
    }

    async fn all_integrations(&self) -> Result<Vec<Integration>, SyncError> {
        paginate(|next| async move {
            let page = self
                .client
                .get_integrations()
                .api_id(&self.target.api_id)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| aws(&self.name, "GetIntegrations", e))?;
            Ok((page.items().to_vec(), page.next_token().map(str::to_owned)))
        })
        .await
    }

    /// The integrations this tool manages (see the module comment).
    fn chosen(&self, all: &[Integration]) -> Result<Vec<Integration>, SyncError> {
        let http = |i: &Integration| i.integration_type() == Some(&IntegrationType::HttpProxy);
        if self.target.integration_ids.is_empty() {
            return Ok(all.iter().filter(|i| http(i)).cloned().collect());
        }
        let mut chosen = Vec::new();
        for id in &self.target.integration_ids {
            match all.iter().find(|i| i.integration_id() == Some(id.as_str())) {
                Some(i) if http(i) => chosen.push(i.clone()),
                Some(i) => {
                    return Err(SyncError::Refused(format!(
                        "{}: integration {id} is {}, not HTTP_PROXY: only an HTTP integration to the ALB can carry the header. Remove it from http_api.integration_ids",
                        self.name,
                        i.integration_type()
                            .map(|t| t.as_str())
                            .unwrap_or("of no type")
                    )));
                }
                None => return Err(self.problem(format!("no integration {id}"))),
            }
        }
        Ok(chosen)
    }

    async fn stage(&self) -> Result<Stage, SyncError> {
        let out = self
            .client
            .get_stage()
            .api_id(&self.target.api_id)
            .stage_name(&self.target.stage)
            .send()
            .await
            .map_err(|e| aws(&self.name, "GetStage", e))?;
        let auto_deploy = out.auto_deploy().unwrap_or(false);
        let failure = out
            .last_deployment_status_message()
            .filter(|m| m.to_ascii_lowercase().contains("fail"))
            .map(str::to_owned);
        let mut deployed = failure.is_none();
        // A stage never deployed serves no request at all: nothing it sends is at risk.
        if let (true, Some(id)) = (deployed, out.deployment_id()) {
            let d = self
                .client
                .get_deployment()
                .api_id(&self.target.api_id)
                .deployment_id(id)
                .send()
                .await
                .map_err(|e| aws(&self.name, "GetDeployment", e))?;
            deployed = d.deployment_status() == Some(&DeploymentStatus::Deployed);
        }
        Ok(Stage {
            auto_deploy,
            deployed,
            failure,
        })
    }

    async fn routes(&self) -> Result<Vec<Route>, SyncError> {
        let routes = paginate(|next| async move {
            let page = self
                .client
                .get_routes()
                .api_id(&self.target.api_id)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| aws(&self.name, "GetRoutes", e))?;
            Ok((page.items().to_vec(), page.next_token().map(str::to_owned)))
        })
        .await?;
        Ok(routes
            .iter()
            .filter_map(|r| {
                let key = r.route_key()?.to_owned();
                let integration_id = r.target()?.strip_prefix("integrations/")?.to_owned();
                // "GET /items", "ANY /{proxy+}"; "$default" is exported as the path
                // "/$default" with the any-method extension.
                let (method, path) = match key.split_once(' ') {
                    Some((m, p)) => (m.to_owned(), p.to_owned()),
                    None => ("ANY".to_owned(), format!("/{key}")),
                };
                Some(Route {
                    key,
                    path,
                    method,
                    integration_id,
                })
            })
            .collect())
    }

    /// The stage's deployment, as exported with the API Gateway extensions.
    async fn export(&self) -> Result<Export, SyncError> {
        let out = self
            .client
            .export_api()
            .api_id(&self.target.api_id)
            .stage_name(&self.target.stage)
            .specification("OAS30")
            .output_type("JSON")
            .include_extensions(true)
            .send()
            .await
            .map_err(|e| aws(&self.name, "ExportApi", e))?;
        let body = out.body().map(|b| b.as_ref()).unwrap_or_default();
        Export::parse(body).map_err(|p| self.problem(format!("stage {}: {p}", self.target.stage)))
    }

    fn view(i: &Integration) -> IntegrationView {
        IntegrationView {
            kind: i
                .integration_type()
                .map(|t| t.as_str().to_ascii_lowercase())
                .unwrap_or_default(),
            uri: i.integration_uri().unwrap_or_default().to_owned(),
            connection_id: i.connection_id().unwrap_or_default().to_owned(),
            request_parameters: i
                .request_parameters()
                .map(|m| m.clone().into_iter().collect::<BTreeMap<_, _>>())
                .unwrap_or_default(),
            request_templates: i
                .request_templates()
                .map(|m| m.clone().into_iter().collect::<BTreeMap<_, _>>())
                .unwrap_or_default(),
        }
    }

    /// What deploying the stage would publish besides this tool's mapping.
    fn pending_changes(
        &self,
        all: &[Integration],
        routes: &[Route],
        served: &Export,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for r in routes {
            let Some(i) = all
                .iter()
                .find(|i| i.integration_id() == Some(r.integration_id.as_str()))
            else {
                continue;
            };
            match served.get(&r.path, &r.method) {
                None => out.push(format!("route {} is not deployed", r.key)),
                Some(deployed) => {
                    for what in Self::view(i).differences(deployed, &self.key()) {
                        out.push(format!("route {}: {what} differ", r.key));
                    }
                }
            }
        }
        for (path, method) in served.methods.keys() {
            let there = routes
                .iter()
                .any(|r| &r.path == path && super::api_export::export_method(&r.method) == *method);
            if !there {
                out.push(format!("{method} {path} was removed from the working copy"));
            }
        }
        out
    }

    /// What each location serves: see the module comment.
    async fn served(&self, all: &[Integration]) -> Result<Vec<Sent>, SyncError> {
        let chosen = self.chosen(all)?;
        let key = self.key();
        let stage = self.stage().await?;
        if stage.auto_deploy {
            return Ok(chosen
                .iter()
                .map(|i| Sent {
                    location: format!("integration {}", i.integration_id().unwrap_or_default()),
                    value: i
                        .request_parameters()
                        .and_then(|p| p.get(&key))
                        .map(TargetValue::new),
                    settled: stage.deployed,
                })
                .collect());
        }
        let routes = self.routes().await?;
        let served = self.export().await?;
        let mut sent = Vec::new();
        for r in routes.iter().filter(|r| {
            chosen
                .iter()
                .any(|i| i.integration_id() == Some(r.integration_id.as_str()))
        }) {
            sent.push(Sent {
                location: format!("stage {} route {}", self.target.stage, r.key),
                value: served
                    .get(&r.path, &r.method)
                    .and_then(|v| v.request_parameters.get(&key))
                    .map(TargetValue::new),
                settled: true,
            });
        }
        Ok(sent)
    }

    /// Polls until every location serves `value`, or the deadline.
    async fn wait_serving(&self, value: &Secret, deadline: Instant) -> Result<(), SyncError> {
        loop {
            let all = self.all_integrations().await?;
            let sent = self.served(&all).await?;
            let Some(behind) = sent.iter().find(|s| !s.settled_on(value)) else {
                return Ok(());
            };
            if let Some(failure) = self.stage().await?.failure {
                return Err(self.problem(format!(
                    "stage {}: its last deployment failed ({failure}); fix the API and run the step again",
                    self.target.stage
                )));
            }
            if Instant::now() + POLL > deadline {
                return Err(SyncError::Timeout(format!(
                    "{}: {} does not serve the value yet at the deadline; run the step again",
                    self.name, behind.location
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

#[async_trait]
impl Injector for HttpApiInjector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn sent(&self) -> Result<Vec<Sent>, SyncError> {
        let all = self.all_integrations().await?;
        self.served(&all).await
    }

    async fn send(
        &self,
        value: &Secret,
        deadline: Duration,
        progress: &dyn Progress,
    ) -> Result<(), SyncError> {
        let deadline = Instant::now() + deadline;
        let key = self.key();
        let all = self.all_integrations().await?;
        let chosen = self.chosen(&all)?;
        let stage = self.stage().await?;
        if !stage.auto_deploy {
            let routes = self.routes().await?;
            let served = self.export().await?;
            let foreign = self.pending_changes(&all, &routes, &served);
            if !foreign.is_empty() && !self.publish_pending_changes {
                return Err(SyncError::Refused(format!(
                    "{}: deploying stage {} would also publish changes that are not this tool's: {}. Deploy them (or revert them) first, or pass --publish-pending-changes",
                    self.name,
                    self.target.stage,
                    foreign.join("; ")
                )));
            }
        }
        for integration in &chosen {
            let mut parameters: HashMap<String, String> = integration
                .request_parameters()
                .cloned()
                .unwrap_or_default();
            if parameters.get(&key).map(String::as_str) == Some(value.expose_str()) {
                continue;
            }
            parameters.insert(key.clone(), value.expose_str().to_owned());
            self.client
                .update_integration()
                .api_id(&self.target.api_id)
                .integration_id(integration.integration_id().unwrap_or_default())
                .set_request_parameters(Some(parameters))
                .send()
                .await
                .map_err(|e| aws(&self.name, "UpdateIntegration", e))?;
        }
        if !stage.auto_deploy
            && !self
                .served(&self.all_integrations().await?)
                .await?
                .iter()
                .all(|s| s.settled_on(value))
        {
            let what = format!("{} stage {}", self.name, self.target.stage);
            progress.step(&format!("{what}: deploying"));
            let out = self
                .pacer
                .deploy(&what, deadline, progress, || async {
                    self.client
                        .create_deployment()
                        .api_id(&self.target.api_id)
                        .stage_name(&self.target.stage)
                        .description("edgeguard-sync: origin-verify header")
                        .send()
                        .await
                        .map_err(|e| aws(&self.name, "CreateDeployment", e))
                })
                .await?;
            if out.deployment_status() == Some(&DeploymentStatus::Failed) {
                return Err(self.problem(format!(
                    "the deployment of stage {} failed: {}",
                    self.target.stage,
                    out.deployment_status_message().unwrap_or("no reason given")
                )));
            }
        }
        self.wait_serving(value, deadline).await
    }
}
