//! Stateful test doubles of API Gateway for what the emulator (moto 5.2) cannot serve:
//! REST UpdateIntegration, stage exports of the *deployed* API, HTTP API CreateDeployment,
//! ExportApi and deployment status. They answer through the real SDK clients
//! (aws-smithy-mocks) and behave as the AWS documentation says:
//!
//! - "After creating or updating your API, you must deploy it to a stage" (REST) and
//!   "if you don't enable automatic deployments, you must create a deployment" (HTTP
//!   API): the working copy and each stage's deployed snapshot are kept apart, and an
//!   export shows the snapshot.
//! - "CreateDeployment: 1 request every 5 seconds per account" (API Gateway quotas): a
//!   faster deployment gets TooManyRequestsException.
//! - A deployment can fail (`fail_deployments`): it changes no stage.
//! - A deployment publishes the whole working copy, anyone's changes included.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_apigateway::error::ErrorMetadata;
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use tokio::time::Instant;

use crate::rotation::fake::World;

/// The account's deployment quota, as AWS enforces it.
const QUOTA: Duration = Duration::from_secs(5);

/// One method and its integration (REST), or one route and its integration (HTTP API).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Method {
    pub(crate) path: String,
    pub(crate) http_method: String,
    /// `HTTP_PROXY`, `AWS_PROXY`, …
    pub(crate) kind: String,
    pub(crate) uri: String,
    pub(crate) parameters: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub(crate) struct ApiState {
    pub(crate) working: Vec<Method>,
    /// Stage name → the deployed snapshot.
    pub(crate) deployed: BTreeMap<String, Vec<Method>>,
    pub(crate) fail_deployments: usize,
    pub(crate) deployments: usize,
    pub(crate) throttled: usize,
    pub(crate) last_deployment: Option<Instant>,
    /// Checks every deployment against the fake world's acceptors (the invariant at every
    /// write): `(header parameter key, world)`.
    pub(crate) guard: Option<(String, World)>,
    /// HTTP API: the stage auto-deploys every change ("autoDeploy", AWS API reference).
    pub(crate) auto_deploy: bool,
    /// HTTP API: the status of the stage's latest deployment (`DEPLOYED` when unset).
    pub(crate) deployment_status: Option<&'static str>,
    /// HTTP API: the stage's `LastDeploymentStatusMessage`.
    pub(crate) last_deployment_message: Option<String>,
    /// REST: every stage's variables (GetStage, UpdateStage `/variables/<name>`).
    pub(crate) variables: BTreeMap<String, String>,
    /// REST: every stage's canary: its deployment, its share of the traffic and its
    /// `stageVariableOverrides` ("CanarySettings", API Gateway REST API Reference).
    pub(crate) canary: Option<(String, f64, BTreeMap<String, String>)>,
    /// HTTP API, auto-deploy: how many more reads of the stage see its previous deployment
    /// after a change ("automatic deployments": API Gateway deploys the change itself, a
    /// little later). `None`: nothing pending.
    pub(crate) auto_deploy_lag: Option<usize>,
    /// HTTP API, auto-deploy: reads of the stage each new change stays undeployed.
    pub(crate) auto_deploy_reads: usize,
}

impl ApiState {
    /// Publishes the working copy to `stage`, as CreateDeployment does, or says why not.
    fn deploy(&mut self, stage: &str) -> Result<(), &'static str> {
        let now = Instant::now();
        if self.last_deployment.is_some_and(|t| now < t + QUOTA) {
            self.throttled += 1;
            return Err("TooManyRequestsException");
        }
        self.last_deployment = Some(now);
        if self.fail_deployments > 0 {
            self.fail_deployments -= 1;
            return Err("ServiceUnavailableException");
        }
        self.deployments += 1;
        if let Some((key, world)) = &self.guard {
            let mut w = world.state();
            for m in &self.working {
                let Some(v) = m.parameters.get(key) else {
                    continue;
                };
                let v = v.trim_matches('\'');
                if !w
                    .accepted
                    .iter()
                    .all(|a| a.iter().any(|s| s.expose_str() == v))
                {
                    w.violations.push(format!(
                        "stage {stage} deployed a value an acceptor rejects"
                    ));
                }
            }
        }
        self.deployed.insert(stage.to_owned(), self.working.clone());
        Ok(())
    }

    /// An auto-deploy stage, read once more: the pending automatic deployment lands (or
    /// fails, when `fail_deployments` says so) after `auto_deploy_reads` reads.
    fn auto_deploy_tick(&mut self, stage: &str) {
        let Some(left) = self.auto_deploy_lag else {
            return;
        };
        if left > 0 {
            self.auto_deploy_lag = Some(left - 1);
            self.deployment_status = Some("PENDING");
            return;
        }
        self.auto_deploy_lag = None;
        // A failed automatic deployment leaves the stage on its previous deployment and
        // says so in `LastDeploymentStatusMessage` ("supported only for stages with
        // autoDeploy enabled", GetStage, API Gateway V2 API Reference).
        self.deployment_status = None;
        if self.fail_deployments > 0 {
            self.fail_deployments -= 1;
            self.last_deployment_message = Some(
                "Deployment attempt failed: Unable to deploy API because no routes exist".into(),
            );
            return;
        }
        self.last_deployment_message = None;
        let working = self.working.clone();
        self.deployed.insert(stage.to_owned(), working);
    }

    /// Someone else in the account deployed just now (the quota is per account).
    pub(crate) fn someone_deployed(&mut self) {
        self.last_deployment = Some(Instant::now());
    }

    /// The stage's snapshot as OpenAPI 3 with `x-amazon-apigateway-integration`.
    fn export(&self, stage: &str) -> Option<String> {
        let methods = self.deployed.get(stage)?;
        let mut paths = serde_json::Map::new();
        for m in methods {
            let key = if m.http_method == "ANY" {
                "x-amazon-apigateway-any-method".to_owned()
            } else {
                m.http_method.to_ascii_lowercase()
            };
            let entry = paths
                .entry(m.path.clone())
                .or_insert_with(|| serde_json::json!({}));
            entry[key] = serde_json::json!({
                "responses": {},
                "x-amazon-apigateway-integration": {
                    "type": m.kind.to_ascii_lowercase(),
                    "httpMethod": "ANY",
                    "uri": m.uri,
                    "requestParameters": m.parameters,
                    "passthroughBehavior": "when_no_match"
                }
            });
        }
        Some(
            serde_json::json!({"openapi": "3.0.1", "info": {"title": "api", "version": "1"}, "paths": paths})
                .to_string(),
        )
    }

    pub(crate) fn served(&self, stage: &str, path: &str, parameter: &str) -> Option<String> {
        self.deployed
            .get(stage)?
            .iter()
            .find(|m| m.path == path)?
            .parameters
            .get(parameter)
            .cloned()
    }

    pub(crate) fn working_value(&self, path: &str, parameter: &str) -> Option<String> {
        self.working
            .iter()
            .find(|m| m.path == path)?
            .parameters
            .get(parameter)
            .cloned()
    }
}

pub(crate) type Shared = Arc<Mutex<ApiState>>;

fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(code).build()
}

/// A REST API: working copy (GetResources, UpdateIntegration), CreateDeployment per
/// stage, GetExport of a stage's deployment.
pub(crate) fn rest_api(state: &Shared) -> aws_sdk_apigateway::Client {
    use aws_sdk_apigateway::operation::create_deployment::{
        CreateDeploymentError, CreateDeploymentOutput,
    };
    use aws_sdk_apigateway::operation::get_export::{GetExportError, GetExportOutput};
    use aws_sdk_apigateway::operation::get_resources::GetResourcesOutput;
    use aws_sdk_apigateway::operation::get_stage::GetStageOutput;
    use aws_sdk_apigateway::operation::update_integration::UpdateIntegrationOutput;
    use aws_sdk_apigateway::operation::update_stage::UpdateStageOutput;
    use aws_sdk_apigateway::primitives::Blob;
    use aws_sdk_apigateway::types::error::{
        NotFoundException, ServiceUnavailableException, TooManyRequestsException,
    };
    use aws_sdk_apigateway::types::{Integration, IntegrationType, Method as M, Resource};

    let s = state.clone();
    let resources =
        mock!(aws_sdk_apigateway::Client::get_resources).then_compute_output(move |_| {
            let st = s.lock().unwrap();
            let items = st
                .working
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let integration = Integration::builder()
                        .r#type(IntegrationType::from(m.kind.as_str()))
                        .uri(&m.uri)
                        .set_request_parameters(Some(m.parameters.clone().into_iter().collect()))
                        .build();
                    Resource::builder()
                        .id(format!("r{i}"))
                        .path(&m.path)
                        .resource_methods(
                            m.http_method.clone(),
                            M::builder()
                                .http_method(&m.http_method)
                                .method_integration(integration)
                                .build(),
                        )
                        .build()
                })
                .collect();
            GetResourcesOutput::builder().set_items(Some(items)).build()
        });
    let s = state.clone();
    let update =
        mock!(aws_sdk_apigateway::Client::update_integration).then_compute_output(move |req| {
            let mut st = s.lock().unwrap();
            let index: usize = req.resource_id().unwrap()[1..].parse().unwrap();
            for op in req.patch_operations() {
                let key = op.path().unwrap().trim_start_matches("/requestParameters/");
                st.working[index]
                    .parameters
                    .insert(key.to_owned(), op.value().unwrap().to_owned());
            }
            UpdateIntegrationOutput::builder().build()
        });
    let s = state.clone();
    let deploy =
        mock!(aws_sdk_apigateway::Client::create_deployment).then_compute_response(move |req| {
            match s.lock().unwrap().deploy(req.stage_name().unwrap()) {
                Ok(()) => MockResponse::Output(CreateDeploymentOutput::builder().id("d").build()),
                Err(code @ "TooManyRequestsException") => {
                    MockResponse::Error(CreateDeploymentError::TooManyRequestsException(
                        TooManyRequestsException::builder().meta(meta(code)).build(),
                    ))
                }
                Err(code) => {
                    MockResponse::Error(CreateDeploymentError::ServiceUnavailableException(
                        ServiceUnavailableException::builder()
                            .meta(meta(code))
                            .build(),
                    ))
                }
            }
        });
    let s = state.clone();
    let export = mock!(aws_sdk_apigateway::Client::get_export).then_compute_response(move |req| {
        assert_eq!(req.export_type(), Some("oas30"));
        assert_eq!(
            req.parameters()
                .and_then(|p| p.get("extensions"))
                .map(String::as_str),
            Some("integrations"),
            "without the extension the export has no integrations"
        );
        match s.lock().unwrap().export(req.stage_name().unwrap()) {
            Some(body) => MockResponse::Output(
                GetExportOutput::builder()
                    .body(Blob::new(body.into_bytes()))
                    .content_type("application/json")
                    .build(),
            ),
            None => MockResponse::Error(GetExportError::NotFoundException(
                NotFoundException::builder()
                    .meta(meta("NotFoundException"))
                    .build(),
            )),
        }
    });
    let s = state.clone();
    let get_stage = mock!(aws_sdk_apigateway::Client::get_stage).then_compute_output(move |req| {
        let st = s.lock().unwrap();
        let canary = st.canary.as_ref().map(|(deployment, percent, overrides)| {
            aws_sdk_apigateway::types::CanarySettings::builder()
                .deployment_id(deployment)
                .percent_traffic(*percent)
                .set_stage_variable_overrides(Some(overrides.clone().into_iter().collect()))
                .build()
        });
        GetStageOutput::builder()
            .stage_name(req.stage_name().unwrap_or_default())
            .deployment_id("d")
            .set_variables(Some(st.variables.clone().into_iter().collect()))
            .set_canary_settings(canary)
            .build()
    });
    let s = state.clone();
    let update_stage =
        mock!(aws_sdk_apigateway::Client::update_stage).then_compute_output(move |req| {
            let mut st = s.lock().unwrap();
            for op in req.patch_operations() {
                let path = op.path().unwrap_or_default();
                let value = op.value().unwrap_or_default().to_owned();
                if let Some(name) = path.strip_prefix("/variables/") {
                    st.variables.insert(name.to_owned(), value.clone());
                } else if let Some(name) =
                    path.strip_prefix("/canarySettings/stageVariableOverrides/")
                {
                    if let Some((_, _, overrides)) = st.canary.as_mut() {
                        overrides.insert(name.to_owned(), value.clone());
                    }
                }
                if let Some((_, world)) = &st.guard {
                    let mut w = world.state();
                    if !w
                        .accepted
                        .iter()
                        .all(|a| a.iter().any(|s| s.expose_str() == value))
                    {
                        w.violations
                            .push(format!("{path} set to a value an acceptor rejects"));
                    }
                }
            }
            UpdateStageOutput::builder().build()
        });
    mock_client!(
        aws_sdk_apigateway,
        RuleMode::MatchAny,
        [
            &resources,
            &update,
            &deploy,
            &export,
            &get_stage,
            &update_stage
        ],
        |c| c.retry_config(aws_sdk_apigateway::config::retry::RetryConfig::disabled())
    )
}

/// An HTTP API stage without auto-deploy: integrations (the working copy), routes (one per
/// method, `integrations/i<N>`), CreateDeployment with its status, GetStage and
/// GetDeployment, ExportApi of the stage's deployment.
pub(crate) fn http_api(state: &Shared, stage: &'static str) -> aws_sdk_apigatewayv2::Client {
    use aws_sdk_apigatewayv2::operation::create_deployment::{
        CreateDeploymentError, CreateDeploymentOutput,
    };
    use aws_sdk_apigatewayv2::operation::export_api::{ExportApiError, ExportApiOutput};
    use aws_sdk_apigatewayv2::operation::get_deployment::GetDeploymentOutput;
    use aws_sdk_apigatewayv2::operation::get_integrations::GetIntegrationsOutput;
    use aws_sdk_apigatewayv2::operation::get_routes::GetRoutesOutput;
    use aws_sdk_apigatewayv2::operation::get_stage::GetStageOutput;
    use aws_sdk_apigatewayv2::operation::update_integration::UpdateIntegrationOutput;
    use aws_sdk_apigatewayv2::primitives::Blob;
    use aws_sdk_apigatewayv2::types::error::{NotFoundException, TooManyRequestsException};
    use aws_sdk_apigatewayv2::types::{DeploymentStatus, Integration, IntegrationType, Route};

    let s = state.clone();
    let integrations =
        mock!(aws_sdk_apigatewayv2::Client::get_integrations).then_compute_output(move |_| {
            let st = s.lock().unwrap();
            let items = st
                .working
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    Integration::builder()
                        .integration_id(format!("i{i}"))
                        .integration_type(IntegrationType::from(m.kind.as_str()))
                        .integration_uri(&m.uri)
                        .set_request_parameters(Some(m.parameters.clone().into_iter().collect()))
                        .build()
                })
                .collect();
            GetIntegrationsOutput::builder()
                .set_items(Some(items))
                .build()
        });
    let s = state.clone();
    let routes = mock!(aws_sdk_apigatewayv2::Client::get_routes).then_compute_output(move |_| {
        let st = s.lock().unwrap();
        let items = st
            .working
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Route::builder()
                    .route_key(format!("{} {}", m.http_method, m.path))
                    .target(format!("integrations/i{i}"))
                    .build()
            })
            .collect();
        GetRoutesOutput::builder().set_items(Some(items)).build()
    });
    let s = state.clone();
    // "UpdateIntegration … requestParameters" replaces the map (what moto does too).
    let update =
        mock!(aws_sdk_apigatewayv2::Client::update_integration).then_compute_output(move |req| {
            let mut st = s.lock().unwrap();
            let index: usize = req.integration_id().unwrap()[1..].parse().unwrap();
            st.working[index].parameters = req
                .request_parameters()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect();
            if st.auto_deploy {
                // Deployed by API Gateway itself, a few reads later.
                st.auto_deploy_lag = Some(st.auto_deploy_reads);
                st.auto_deploy_tick(stage);
            }
            UpdateIntegrationOutput::builder().build()
        });
    let s = state.clone();
    let deploy =
        mock!(aws_sdk_apigatewayv2::Client::create_deployment).then_compute_response(move |req| {
            match s.lock().unwrap().deploy(req.stage_name().unwrap()) {
                Ok(()) => MockResponse::Output(
                    CreateDeploymentOutput::builder()
                        .deployment_id("d")
                        .deployment_status(DeploymentStatus::Deployed)
                        .build(),
                ),
                Err(code @ "TooManyRequestsException") => {
                    MockResponse::Error(CreateDeploymentError::TooManyRequestsException(
                        TooManyRequestsException::builder().meta(meta(code)).build(),
                    ))
                }
                // HTTP API deployments report their failure in the deployment's status.
                Err(_) => MockResponse::Output(
                    CreateDeploymentOutput::builder()
                        .deployment_id("d-failed")
                        .deployment_status(DeploymentStatus::Failed)
                        .deployment_status_message("Deployment attempt failed: internal error")
                        .build(),
                ),
            }
        });
    let s = state.clone();
    let get_stage = mock!(aws_sdk_apigatewayv2::Client::get_stage).then_compute_output(move |_| {
        let mut st = s.lock().unwrap();
        st.auto_deploy_tick(stage);
        GetStageOutput::builder()
            .stage_name(stage)
            .auto_deploy(st.auto_deploy)
            .deployment_id("d")
            .set_last_deployment_status_message(st.last_deployment_message.clone())
            .build()
    });
    let s = state.clone();
    let get_deployment =
        mock!(aws_sdk_apigatewayv2::Client::get_deployment).then_compute_output(move |_| {
            let status = s.lock().unwrap().deployment_status.unwrap_or("DEPLOYED");
            GetDeploymentOutput::builder()
                .deployment_id("d")
                .deployment_status(DeploymentStatus::from(status))
                .build()
        });
    let s = state.clone();
    let export =
        mock!(aws_sdk_apigatewayv2::Client::export_api).then_compute_response(move |req| {
            assert_eq!(req.include_extensions(), Some(true));
            match s
                .lock()
                .unwrap()
                .export(req.stage_name().unwrap_or("(latest)"))
            {
                Some(body) => MockResponse::Output(
                    ExportApiOutput::builder()
                        .body(Blob::new(body.into_bytes()))
                        .build(),
                ),
                None => MockResponse::Error(ExportApiError::NotFoundException(
                    NotFoundException::builder()
                        .meta(meta("NotFoundException"))
                        .build(),
                )),
            }
        });
    mock_client!(
        aws_sdk_apigatewayv2,
        RuleMode::MatchAny,
        [
            &integrations,
            &routes,
            &update,
            &deploy,
            &get_stage,
            &get_deployment,
            &export
        ],
        |c| c.retry_config(aws_sdk_apigatewayv2::config::retry::RetryConfig::disabled())
    )
}
