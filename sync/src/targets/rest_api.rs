//! A REST API (API Gateway v1) as an [`Injector`], in one of two modes:
//!
//! - `stage_variable` (recommended): the integrations map the header from
//!   `stageVariables.<variable>`; changing the variable on each stage takes effect at
//!   once, no deployment.
//! - `integration`: the chosen integrations carry the literal in
//!   `integration.request.header.<name>`. A change is UpdateIntegration on the API's
//!   working copy, then CreateDeployment on each listed stage; only then does the stage
//!   serve it. What a stage serves is read from its export ([`super::api_export`]).
//!
//! Chosen integrations: HTTP and HTTP_PROXY only (never AWS, AWS_PROXY or MOCK: a Lambda
//! or AWS service cannot be sent the header, and the secret must not reach it), narrowed
//! by `resources` (exact resource paths) and `uri_prefix` when configured; without
//! `uri_prefix`, those whose URI's host is one of the `origins`, or, with no `origins`,
//! all of them only when they all send to one host ([`crate::origin::pick`]). So a
//! third-party HTTP backend on the same API never receives the secret.
//!
//! Canary releases: a stage with `canarySettings` sends part of its traffic to another
//! deployment, with its own `stageVariableOverrides`. In `stage_variable` mode an override
//! of the variable is read and updated with the stage's variable, in the same UpdateStage
//! call; in `integration` mode the canary's deployment keeps whatever literal it was
//! deployed with, which this tool does not deploy, so such a stage is refused.
//!
//! A deployment publishes every pending change of the API, anyone's. Before deploying a
//! stage, its export is compared with the working copy; anything that differs besides
//! this tool's header mapping is refused (naming what differs) unless the operator
//! passed `--publish-pending-changes`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_apigateway::Client;
use aws_sdk_apigateway::types::{IntegrationType, Op, PatchOperation};
use tokio::time::Instant;

use super::api_export::{Export, IntegrationView};
use super::deployments::DeploymentPacer;
use super::{Injector, Sent, ValueRule, paginate};
use crate::config::{RestApiMode, RestApiTarget};
use crate::error::{SyncError, aws};
use crate::progress::Progress;
use crate::value::{Secret, TargetValue};

#[derive(Debug, Clone)]
pub struct RestApiInjector {
    client: Client,
    target: RestApiTarget,
    header: String,
    name: String,
    pacer: Arc<DeploymentPacer>,
    publish_pending_changes: bool,
    /// The origins' hosts (the configuration's `origins`).
    origins: Vec<String>,
}

/// A stage's variable and canary, as read.
struct StageView {
    value: Option<TargetValue>,
    canary: Option<Canary>,
}

/// A stage's canary release (`canarySettings`).
struct Canary {
    deployment: String,
    percent: f64,
    /// Its `stageVariableOverrides` entry for the variable, if it overrides it.
    value: Option<TargetValue>,
}

/// Every method of a REST API's working copy that has an integration, all pages (`name`
/// is who asks, for errors).
pub(crate) async fn methods(
    client: &Client,
    api_id: &str,
    name: &str,
) -> Result<Vec<Method>, SyncError> {
    paginate(|position| async move {
        let page = client
            .get_resources()
            .rest_api_id(api_id)
            .embed("methods")
            .limit(500)
            .set_position(position)
            .send()
            .await
            .map_err(|e| aws(name, "GetResources", e))?;
        let mut found = Vec::new();
        for resource in page.items() {
            for (http_method, method) in resource.resource_methods().into_iter().flatten() {
                let Some(i) = method.method_integration() else {
                    continue;
                };
                let map = |m: Option<&std::collections::HashMap<String, String>>| {
                    m.map(|m| m.clone().into_iter().collect::<BTreeMap<_, _>>())
                        .unwrap_or_default()
                };
                found.push(Method {
                    resource_id: resource.id().unwrap_or_default().to_owned(),
                    path: resource.path().unwrap_or_default().to_owned(),
                    http_method: http_method.clone(),
                    view: IntegrationView {
                        kind: i
                            .r#type()
                            .map(|t| t.as_str().to_ascii_lowercase())
                            .unwrap_or_default(),
                        uri: i.uri().unwrap_or_default().to_owned(),
                        connection_id: i.connection_id().unwrap_or_default().to_owned(),
                        request_parameters: map(i.request_parameters()),
                        request_templates: map(i.request_templates()),
                    },
                });
            }
        }
        Ok((found, page.position().map(str::to_owned)))
    })
    .await
}

/// One method of the API's working copy with its integration.
#[derive(Debug, Clone)]
pub(crate) struct Method {
    pub(crate) resource_id: String,
    pub(crate) path: String,
    pub(crate) http_method: String,
    pub(crate) view: IntegrationView,
}

impl RestApiInjector {
    /// Names the account and region this target is called in (status, plan, errors).
    pub fn located(mut self, place: &str) -> Self {
        self.name = format!("{} ({place})", self.name);
        self
    }

    pub fn new(
        client: Client,
        target: RestApiTarget,
        header: &str,
        pacer: Arc<DeploymentPacer>,
    ) -> Self {
        let name = format!("rest_api {}", target.api_id);
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

    /// Without `uri_prefix`, integrations are chosen when they send to one of these hosts.
    pub fn with_origins(mut self, origins: Vec<String>) -> Self {
        self.origins = origins;
        self
    }

    /// Deploy even when the working copy holds other changes (`--publish-pending-changes`).
    pub fn publishing_pending_changes(mut self, yes: bool) -> Self {
        self.publish_pending_changes = yes;
        self
    }

    fn parameter(&self) -> String {
        format!("integration.request.header.{}", self.header)
    }

    fn variable(&self) -> &str {
        self.target.variable.as_deref().unwrap_or_default()
    }

    fn problem(&self, problem: String) -> SyncError {
        SyncError::Target {
            target: self.name.clone(),
            problem,
        }
    }

    async fn working_copy(&self) -> Result<Vec<Method>, SyncError> {
        methods(&self.client, &self.target.api_id, &self.name).await
    }

    /// The methods whose header this tool manages (see the module comment).
    fn chosen_methods(&self, working: &[Method]) -> Result<Vec<Method>, SyncError> {
        let (chosen, _) = self.choose(working)?;
        if chosen.is_empty() {
            return Err(self.problem(
                "no HTTP or HTTP_PROXY integration (within resources, uri_prefix or origins) to carry the header".into(),
            ));
        }
        Ok(chosen)
    }

    /// The chosen methods, and every other one with why it is left alone.
    fn choose(&self, working: &[Method]) -> Result<(Vec<Method>, Vec<String>), SyncError> {
        let mut left = Vec::new();
        let mut candidates = Vec::new();
        for m in working {
            let what = format!("{} {}", m.http_method, m.path);
            let http = [IntegrationType::Http, IntegrationType::HttpProxy]
                .iter()
                .any(|t| t.as_str().eq_ignore_ascii_case(&m.view.kind));
            if !http {
                left.push(format!(
                    "{what} ({}): cannot carry the header",
                    m.view.kind.to_ascii_uppercase()
                ));
            } else if !self.target.resources.is_empty() && !self.target.resources.contains(&m.path)
            {
                left.push(format!("{what}: not in resources"));
            } else if let Some(prefix) = &self.target.uri_prefix {
                if m.view.uri.starts_with(prefix.as_str()) {
                    candidates.push(m);
                } else {
                    left.push(format!("{what}: its URI is outside uri_prefix"));
                }
            } else {
                candidates.push(m);
            }
        }
        if self.target.uri_prefix.is_some() {
            return Ok((candidates.into_iter().cloned().collect(), left));
        }
        let described: Vec<(String, &str)> = candidates
            .iter()
            .map(|m| (format!("{} {}", m.http_method, m.path), m.view.uri.as_str()))
            .collect();
        let (picked, off) = crate::origin::pick(&described, &self.origins)
            .map_err(|e| SyncError::Refused(format!("{}: {e}", self.name)))?;
        left.extend(off);
        Ok((
            picked.into_iter().map(|k| candidates[k].clone()).collect(),
            left,
        ))
    }

    /// A stage as this tool reads it: its variable, and its canary's override of it.
    async fn stage(&self, stage: &str) -> Result<StageView, SyncError> {
        let out = self
            .client
            .get_stage()
            .rest_api_id(&self.target.api_id)
            .stage_name(stage)
            .send()
            .await
            .map_err(|e| aws(&self.name, "GetStage", e))?;
        let variable = self.target.variable.as_deref().unwrap_or_default();
        Ok(StageView {
            value: out
                .variables()
                .and_then(|v| v.get(variable))
                .map(TargetValue::new),
            canary: out.canary_settings().map(|c| Canary {
                deployment: c.deployment_id().unwrap_or("(none)").to_owned(),
                percent: c.percent_traffic(),
                value: c
                    .stage_variable_overrides()
                    .and_then(|o| o.get(variable))
                    .map(TargetValue::new),
            }),
        })
    }

    /// Integration mode: a stage whose canary serves a deployment of its own is refused.
    async fn no_canary(&self, stage: &str) -> Result<(), SyncError> {
        if let Some(c) = self.stage(stage).await?.canary {
            return Err(SyncError::Refused(format!(
                "{}: stage {stage} has a canary ({}% of its traffic on deployment {}), which keeps the header literal it was deployed with: this tool deploys the stage, not the canary, so that share would keep the old value. Promote or delete the canary first, or use stage_variable mode (its overrides are updated too)",
                self.name, c.percent, c.deployment
            )));
        }
        Ok(())
    }

    /// The stage's deployment, as exported with its integrations.
    async fn export(&self, stage: &str) -> Result<Export, SyncError> {
        let out = self
            .client
            .get_export()
            .rest_api_id(&self.target.api_id)
            .stage_name(stage)
            .export_type("oas30")
            .parameters("extensions", "integrations")
            .accepts("application/json")
            .send()
            .await
            .map_err(|e| aws(&self.name, "GetExport", e))?;
        let body = out.body().map(|b| b.as_ref()).unwrap_or_default();
        Export::parse(body).map_err(|p| self.problem(format!("stage {stage}: {p}")))
    }

    fn literal(&self, view: Option<&IntegrationView>) -> Option<TargetValue> {
        view.and_then(|v| v.request_parameters.get(&self.parameter()))
            .map(|v| TargetValue::new(v.trim_matches('\'')))
    }

    /// What deploying `stage` would publish besides this tool's mapping: one phrase each.
    fn pending_changes(&self, stage: &str, working: &[Method], served: &Export) -> Vec<String> {
        let mut out = Vec::new();
        for m in working {
            match served.get(&m.path, &m.http_method) {
                None => out.push(format!(
                    "stage {stage}: {} {} is not deployed",
                    m.http_method, m.path
                )),
                Some(deployed) => {
                    for what in m.view.differences(deployed, &self.parameter()) {
                        out.push(format!(
                            "stage {stage}: {} {}: {what} differ",
                            m.http_method, m.path
                        ));
                    }
                }
            }
        }
        for (path, method) in served.methods.keys() {
            let there = working.iter().any(|m| {
                &m.path == path && super::api_export::export_method(&m.http_method) == *method
            });
            if !there {
                out.push(format!(
                    "stage {stage}: {method} {path} was removed from the working copy"
                ));
            }
        }
        out
    }

    /// The variable on each stage, and on its canary where the canary overrides it, in
    /// one UpdateStage (both change together, or neither).
    async fn send_stage_variable(&self, value: &Secret) -> Result<(), SyncError> {
        for stage in &self.target.stages {
            let view = self.stage(stage).await?;
            let mut update = self
                .client
                .update_stage()
                .rest_api_id(&self.target.api_id)
                .stage_name(stage)
                .patch_operations(
                    PatchOperation::builder()
                        .op(Op::Replace)
                        .path(format!("/variables/{}", self.variable()))
                        .value(value.expose_str())
                        .build(),
                );
            if view.canary.is_some_and(|c| c.value.is_some()) {
                update = update.patch_operations(
                    PatchOperation::builder()
                        .op(Op::Replace)
                        .path(format!(
                            "/canarySettings/stageVariableOverrides/{}",
                            self.variable()
                        ))
                        .value(value.expose_str())
                        .build(),
                );
            }
            update
                .send()
                .await
                .map_err(|e| aws(&self.name, "UpdateStage", e))?;
        }
        Ok(())
    }

    async fn send_integration(
        &self,
        value: &Secret,
        deadline: Instant,
        progress: &dyn Progress,
    ) -> Result<(), SyncError> {
        let working = self.working_copy().await?;
        let chosen = self.chosen_methods(&working)?;
        for stage in &self.target.stages {
            self.no_canary(stage).await?;
        }
        // Which stages do not serve the value yet, and what deploying them would publish.
        let mut to_deploy = Vec::new();
        let mut foreign = Vec::new();
        for stage in &self.target.stages {
            let served = self.export(stage).await?;
            let serving = chosen.iter().all(|m| {
                self.literal(served.get(&m.path, &m.http_method))
                    .is_some_and(|v| v.is(value))
            });
            if !serving {
                foreign.extend(self.pending_changes(stage, &working, &served));
                to_deploy.push(stage.clone());
            }
        }
        if !foreign.is_empty() && !self.publish_pending_changes {
            return Err(SyncError::Refused(format!(
                "{}: deploying would also publish changes that are not this tool's: {}. Deploy them (or revert them) first, or pass --publish-pending-changes; stage_variable mode needs no deployment",
                self.name,
                foreign.join("; ")
            )));
        }
        for m in chosen
            .iter()
            .filter(|m| !self.literal(Some(&m.view)).is_some_and(|v| v.is(value)))
        {
            let op = PatchOperation::builder()
                .op(
                    if m.view.request_parameters.contains_key(&self.parameter()) {
                        Op::Replace
                    } else {
                        Op::Add
                    },
                )
                .path(format!("/requestParameters/{}", self.parameter()))
                .value(format!("'{}'", value.expose_str()))
                .build();
            self.client
                .update_integration()
                .rest_api_id(&self.target.api_id)
                .resource_id(&m.resource_id)
                .http_method(&m.http_method)
                .patch_operations(op)
                .send()
                .await
                .map_err(|e| aws(&self.name, "UpdateIntegration", e))?;
        }
        for stage in &to_deploy {
            let what = format!("{} stage {stage}", self.name);
            progress.step(&format!("{what}: deploying"));
            self.pacer
                .deploy(&what, deadline, progress, || async {
                    self.client
                        .create_deployment()
                        .rest_api_id(&self.target.api_id)
                        .stage_name(stage)
                        .description("edgeguard-sync: origin-verify header")
                        .send()
                        .await
                        .map_err(|e| aws(&self.name, "CreateDeployment", e))
                })
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Injector for RestApiInjector {
    fn name(&self) -> &str {
        &self.name
    }

    fn value_rule(&self) -> Option<ValueRule> {
        Some(match self.target.mode {
            RestApiMode::StageVariable => super::rules::STAGE_VARIABLE,
            RestApiMode::Integration => super::rules::QUOTED_LITERAL,
        })
    }

    async fn sent(&self) -> Result<Vec<Sent>, SyncError> {
        let mut sent = Vec::new();
        match self.target.mode {
            RestApiMode::StageVariable => {
                for stage in &self.target.stages {
                    let view = self.stage(stage).await?;
                    sent.push(Sent {
                        location: format!("stage {stage} variable {}", self.variable()),
                        value: view.value,
                        settled: true,
                    });
                    if let Some(Canary {
                        value: Some(value), ..
                    }) = view.canary
                    {
                        sent.push(Sent {
                            location: format!("stage {stage} canary variable {}", self.variable()),
                            value: Some(value),
                            settled: true,
                        });
                    }
                }
            }
            RestApiMode::Integration => {
                let chosen = self.chosen_methods(&self.working_copy().await?)?;
                for stage in &self.target.stages {
                    self.no_canary(stage).await?;
                    let served = self.export(stage).await?;
                    for m in &chosen {
                        sent.push(Sent {
                            location: format!("stage {stage}: {} {}", m.http_method, m.path),
                            value: self.literal(served.get(&m.path, &m.http_method)),
                            settled: true,
                        });
                    }
                }
            }
        }
        Ok(sent)
    }

    async fn left_alone(&self) -> Result<Vec<String>, SyncError> {
        match self.target.mode {
            // The stage variable reaches whatever integration maps it: the API says where.
            RestApiMode::StageVariable => Ok(Vec::new()),
            RestApiMode::Integration => Ok(self.choose(&self.working_copy().await?)?.1),
        }
    }

    async fn send(
        &self,
        value: &Secret,
        deadline: Duration,
        progress: &dyn Progress,
    ) -> Result<(), SyncError> {
        match self.target.mode {
            RestApiMode::StageVariable => self.send_stage_variable(value).await,
            RestApiMode::Integration => {
                self.send_integration(value, Instant::now() + deadline, progress)
                    .await?;
                // A deployment is served once CreateDeployment returns; read it back so a
                // stage that still does not serve the value is an error now, not at prune.
                for s in self.sent().await? {
                    if !s.sends(value) {
                        return Err(self.problem(format!(
                            "{} does not serve the value after its deployment",
                            s.location
                        )));
                    }
                }
                Ok(())
            }
        }
    }
}
