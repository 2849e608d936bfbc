//! An HTTP API (API Gateway v2) as an [`Injector`]: each chosen integration's request
//! parameter `overwrite:header.<name>` (never `append`, which would add a second field).
//! The full parameter map is sent with the one key changed, so other mappings stay.
//!
//! Chosen integrations: the listed `integration_ids`, each of which must be HTTP_PROXY
//! (and, with `origins`, send to one); none listed means every HTTP_PROXY integration
//! (VPC link ones included) that sends to one of the `origins` (the integration URI's
//! host, or the listener ARN of a private integration), or, without `origins`, all of
//! them only when they all send to one host ([`crate::origin::pick`]): the header is a
//! key to the origin, and a partner's backend on the same API must never get it.
//! AWS_PROXY integrations (Lambda, AWS services) cannot send the header and are never
//! touched.
//!
//! What a stage serves is read from its export (ExportApi with `StageName`: the stage's
//! deployment, not the working copy), per route of a chosen integration:
//! - auto-deploy: API Gateway deploys each change itself, some time after it. Right after
//!   UpdateIntegration the stage still serves its previous deployment; the location is
//!   settled once the export shows the value and the stage's deployment is `DEPLOYED`
//!   with no failure in `LastDeploymentStatusMessage` (a `FAILED` one is an error). A
//!   stage never deployed (no `DeploymentId`) serves nothing: what its first deployment
//!   will carry is the integrations' own value.
//! - otherwise: nothing changes until CreateDeployment; a change is deployed only after
//!   checking that the deployment would publish nothing but this tool's mapping.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigatewayv2::Client;
use aws_sdk_apigatewayv2::types::{DeploymentStatus, Integration, IntegrationType};
use tokio::time::Instant;

use super::api_export::{Export, IntegrationView};
use super::deployments::DeploymentPacer;
use super::{Injector, Sent, ValueRule, paginate};
use crate::config::HttpApiTarget;
use crate::error::{SyncError, aws};
use crate::progress::Progress;
use crate::value::{Secret, TargetValue};

/// Each integration as [`crate::origin::pick`] weighs it: named, and the URI it sends to.
/// Every integration of an HTTP API, all pages (`name` is who asks, for errors).
pub(crate) async fn integrations(
    client: &Client,
    api_id: &str,
    name: &str,
) -> Result<Vec<Integration>, SyncError> {
    paginate(|next| async move {
        let page = client
            .get_integrations()
            .api_id(api_id)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| aws(name, "GetIntegrations", e))?;
        Ok((page.items().to_vec(), page.next_token().map(str::to_owned)))
    })
    .await
}

fn described<I: std::borrow::Borrow<Integration>>(integrations: &[I]) -> Vec<(String, &str)> {
    integrations
        .iter()
        .map(|i| {
            let i = i.borrow();
            (
                format!("integration {}", i.integration_id().unwrap_or_default()),
                i.integration_uri().unwrap_or_default(),
            )
        })
        .collect()
}

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
    /// The origins' hosts (the configuration's `origins`).
    origins: Vec<String>,
}

/// The stage as it matters here.
struct Stage {
    auto_deploy: bool,
    /// Whether the stage has ever been deployed.
    has_deployment: bool,
    /// Whether the stage's deployment is in effect.
    deployed: bool,
    /// `LastDeploymentStatusMessage` when it reports a failed deployment, or the
    /// deployment's own `FAILED` status message.
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
    /// Names the account and region this target is called in (status, plan, errors).
    pub fn located(mut self, place: &str) -> Self {
        self.name = format!("{} ({place})", self.name);
        self
    }

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
            origins: Vec::new(),
        }
    }

    /// Integrations chosen by default are those that send to one of these hosts.
    pub fn with_origins(mut self, origins: Vec<String>) -> Self {
        self.origins = origins;
        self
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
        integrations(&self.client, &self.target.api_id, &self.name).await
    }

    /// The integrations this tool manages (see the module comment).
    fn chosen(&self, all: &[Integration]) -> Result<Vec<Integration>, SyncError> {
        Ok(self.choose(all)?.0)
    }

    /// The integrations this tool manages, and every other one with why it is left alone.
    fn choose(&self, all: &[Integration]) -> Result<(Vec<Integration>, Vec<String>), SyncError> {
        let http = |i: &Integration| i.integration_type() == Some(&IntegrationType::HttpProxy);
        let id = |i: &Integration| i.integration_id().unwrap_or_default().to_owned();
        let kind = |i: &Integration| {
            i.integration_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_else(|| "of no type".into())
        };
        let mut left = Vec::new();
        if !self.target.integration_ids.is_empty() {
            let mut chosen = Vec::new();
            for listed in &self.target.integration_ids {
                match all
                    .iter()
                    .find(|i| i.integration_id() == Some(listed.as_str()))
                {
                    Some(i) if !http(i) => {
                        return Err(SyncError::Refused(format!(
                            "{}: integration {listed} is {}, not HTTP_PROXY: only an HTTP integration to the ALB can carry the header. Remove it from http_api.integration_ids",
                            self.name,
                            kind(i)
                        )));
                    }
                    Some(i) => chosen.push(i.clone()),
                    None => return Err(self.problem(format!("no integration {listed}"))),
                }
            }
            if !self.origins.is_empty() {
                let (_, off) = crate::origin::pick(&described(&chosen), &self.origins)
                    .map_err(|e| SyncError::Refused(format!("{}: {e}", self.name)))?;
                if !off.is_empty() {
                    return Err(SyncError::Refused(format!(
                        "{}: listed in integration_ids but not sending to an origin: {}. Remove it, or add its host to origins",
                        self.name,
                        off.join("; ")
                    )));
                }
            }
            for i in all.iter().filter(|i| {
                !chosen
                    .iter()
                    .any(|c| c.integration_id() == i.integration_id())
            }) {
                left.push(format!("integration {}: not in integration_ids", id(i)));
            }
            return Ok((chosen, left));
        }
        let mut candidates = Vec::new();
        for i in all {
            if http(i) {
                candidates.push(i);
            } else {
                left.push(format!(
                    "integration {} ({}): cannot carry the header",
                    id(i),
                    kind(i)
                ));
            }
        }
        let (picked, off) = crate::origin::pick(&described(&candidates), &self.origins)
            .map_err(|e| SyncError::Refused(format!("{}: {e}", self.name)))?;
        left.extend(off);
        let chosen: Vec<Integration> = picked.into_iter().map(|k| candidates[k].clone()).collect();
        if chosen.is_empty() && !self.origins.is_empty() {
            return Err(self.problem(format!(
                "no HTTP_PROXY integration sends to one of the origins ({})",
                self.origins.join(", ")
            )));
        }
        Ok((chosen, left))
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
        let mut failure = out
            .last_deployment_status_message()
            .filter(|m| m.to_ascii_lowercase().contains("fail"))
            .map(str::to_owned);
        let mut deployed = failure.is_none();
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
            if d.deployment_status() == Some(&DeploymentStatus::Failed) {
                failure = Some(format!(
                    "deployment {id} FAILED: {}",
                    d.deployment_status_message().unwrap_or("no reason given")
                ));
            }
        }
        Ok(Stage {
            auto_deploy,
            has_deployment: out.deployment_id().is_some(),
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
        if stage.auto_deploy && !stage.has_deployment {
            // Never deployed: it serves nothing yet, so nothing it sends is at risk.
            return Ok(chosen
                .iter()
                .map(|i| Sent {
                    location: format!("integration {}", i.integration_id().unwrap_or_default()),
                    value: i
                        .request_parameters()
                        .and_then(|p| p.get(&key))
                        .map(TargetValue::new),
                    settled: true,
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
                // An auto-deploy stage's deployment may still be rolling out.
                settled: !stage.auto_deploy || stage.deployed,
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
                    "stage {}: its last deployment failed ({failure}), so it still serves the value before; fix the API and run the step again",
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

    fn value_rule(&self) -> Option<ValueRule> {
        Some(super::rules::HTTP_API_MAPPING)
    }

    async fn sent(&self) -> Result<Vec<Sent>, SyncError> {
        let all = self.all_integrations().await?;
        self.served(&all).await
    }

    async fn left_alone(&self) -> Result<Vec<String>, SyncError> {
        Ok(self.choose(&self.all_integrations().await?)?.1)
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
