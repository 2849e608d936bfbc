//! API Gateway injectors against the stateful doubles of [`super::api_doubles`] (the
//! emulator serves neither REST UpdateIntegration and stage exports nor HTTP API
//! deployments): what a stage *serves* is what counts, a failed deployment is resumed,
//! nothing is pruned while a stage serves the old value, deployments are paced, other
//! people's pending changes are never published unasked, and only HTTP integrations to
//! the ALB ever get the secret.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Injector;
use super::api_doubles::{self, ApiState, Method, Shared};
use super::deployments::DeploymentPacer;
use super::http_api::HttpApiInjector;
use super::rest_api::RestApiInjector;
use crate::config::{HttpApiTarget, RestApiMode, RestApiTarget, Timing};
use crate::error::SyncError;
use crate::rotation::Rotation;
use crate::rotation::fake::World;
use crate::value::Secret;

const H: &str = "x-origin-verify";
const REST_KEY: &str = "integration.request.header.x-origin-verify";
const HTTP_KEY: &str = "overwrite:header.x-origin-verify";
const ALB: &str = "https://alb.example.com/";
const TOKEN: &str = "4f0c3a2b-1d9e-4c8b-a7f6-5e4d3c2b1a09";

const TIMING: Timing = Timing {
    acceptor_settle: Duration::from_secs(2),
    dual_accept_window: Duration::from_secs(10),
    cloudfront_deploy_timeout: Duration::from_secs(60),
};

fn method(
    path: &str,
    http_method: &str,
    kind: &str,
    uri: &str,
    params: &[(&str, String)],
) -> Method {
    Method {
        path: path.into(),
        http_method: http_method.into(),
        kind: kind.into(),
        uri: uri.into(),
        parameters: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// A REST API with the ALB's proxy integration, a Lambda and a third-party HTTP backend,
/// deployed to `stages`.
fn rest_state(world: &World, v0: &Secret, stages: &[&str]) -> Shared {
    let working = vec![
        method(
            "/{proxy+}",
            "ANY",
            "HTTP_PROXY",
            &format!("{ALB}{{proxy}}"),
            &[(REST_KEY, format!("'{}'", v0.expose_str()))],
        ),
        method(
            "/fn",
            "POST",
            "AWS_PROXY",
            "arn:aws:apigateway:us-east-1:lambda:path/fn",
            &[],
        ),
        method(
            "/partner",
            "GET",
            "HTTP",
            "https://partner.example.net/",
            &[],
        ),
    ];
    let mut state = ApiState {
        working: working.clone(),
        guard: Some((REST_KEY.into(), world.clone())),
        ..ApiState::default()
    };
    for s in stages {
        state.deployed.insert((*s).into(), working.clone());
    }
    Arc::new(Mutex::new(state))
}

fn rest_target(stages: &[&str]) -> RestApiTarget {
    RestApiTarget {
        role_arn: None,
        external_id: None,
        region: None,
        api_id: "api".into(),
        stages: stages.iter().map(|s| (*s).to_owned()).collect(),
        mode: RestApiMode::Integration,
        variable: None,
        resources: Vec::new(),
        uri_prefix: Some(ALB.into()),
    }
}

fn rotation(world: &World, injector: Box<dyn Injector>) -> Rotation {
    Rotation::new("fake", Box::new(world.clone()), TIMING)
        .with_acceptor(world.acceptor(0))
        .with_injector(injector)
}

fn quoted(v: &Secret) -> String {
    format!("'{}'", v.expose_str())
}

#[tokio::test(start_paused = true)]
async fn rest_a_failed_deployment_is_redeployed_on_resume_and_prune_waits_for_the_stage() {
    let (world, v0) = World::new(1, 0);
    let state = rest_state(&world, &v0, &["prod"]);
    let rest = RestApiInjector::new(
        api_doubles::rest_api(&state),
        rest_target(&["prod"]),
        H,
        Arc::default(),
    );
    let r = rotation(&world, Box::new(rest));
    r.create(TOKEN).await.unwrap();
    let v1 = world.state().stage("AWSPENDING").unwrap();

    state.lock().unwrap().fail_deployments = 1;
    let e = r.set(TOKEN).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    {
        let st = state.lock().unwrap();
        assert_eq!(
            st.working_value("/{proxy+}", REST_KEY),
            Some(quoted(&v1)),
            "the working copy changed"
        );
        assert_eq!(
            st.served("prod", "/{proxy+}", REST_KEY),
            Some(quoted(&v0)),
            "the stage did not"
        );
    }
    // The injector reports what the stage serves, not the working copy: finish refuses.
    let e = r.finish(TOKEN).await.unwrap_err();
    assert!(matches!(e, SyncError::Refused(_)), "{e}");
    assert!(e.to_string().contains("stage prod"), "{e}");

    // Resumed: the working copy already has the value, the stage does not: redeployed.
    r.set(TOKEN).await.unwrap();
    assert_eq!(
        state.lock().unwrap().served("prod", "/{proxy+}", REST_KEY),
        Some(quoted(&v1))
    );
    r.test(TOKEN).await.unwrap();
    r.finish(TOKEN).await.unwrap();

    // Someone redeploys an old deployment: the stage serves AWSPREVIOUS again. Prune
    // (even forced) must not narrow the acceptors under it.
    state.lock().unwrap().deployed.get_mut("prod").unwrap()[0]
        .parameters
        .insert(REST_KEY.into(), quoted(&v0));
    let e = r.prune(true).await.unwrap_err();
    assert!(e.to_string().contains("stage prod"), "{e}");
    assert_eq!(world.state().accepted[0].len(), 2, "nothing narrowed");
    state.lock().unwrap().deployed.get_mut("prod").unwrap()[0]
        .parameters
        .insert(REST_KEY.into(), quoted(&v1));
    r.prune(true).await.unwrap();
    assert_eq!(world.state().accepted[0], vec![v1.clone()]);

    let st = state.lock().unwrap();
    for other in ["/fn", "/partner"] {
        assert_eq!(
            st.working_value(other, REST_KEY),
            None,
            "{other} never gets the secret"
        );
    }
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn rest_deployments_never_publish_other_peoples_changes_unasked() {
    let (world, v0) = World::new(1, 0);
    let state = rest_state(&world, &v0, &["prod"]);
    // Someone edited the partner integration and has not deployed it yet.
    state.lock().unwrap().working[2].uri = "https://partner-v2.example.net/".into();
    let client = api_doubles::rest_api(&state);
    let r = rotation(
        &world,
        Box::new(RestApiInjector::new(
            client.clone(),
            rest_target(&["prod"]),
            H,
            Arc::default(),
        )),
    );
    r.create(TOKEN).await.unwrap();
    let e = r.set(TOKEN).await.unwrap_err();
    assert!(matches!(e, SyncError::Refused(_)), "{e}");
    let message = e.to_string();
    assert!(
        message.contains("GET /partner: integration URI differ"),
        "{message}"
    );
    assert!(message.contains("--publish-pending-changes"), "{message}");
    {
        let st = state.lock().unwrap();
        assert_eq!(st.deployments, 0);
        assert_eq!(
            st.working_value("/{proxy+}", REST_KEY),
            Some(quoted(&v0)),
            "a refusal changes nothing"
        );
    }
    // Asked explicitly: published along with the header.
    let injector = RestApiInjector::new(client, rest_target(&["prod"]), H, Arc::default())
        .publishing_pending_changes(true);
    let r = rotation(&world, Box::new(injector));
    r.set(TOKEN).await.unwrap();
    let st = state.lock().unwrap();
    assert_eq!(st.deployments, 1);
    assert_eq!(
        st.deployed["prod"][2].uri,
        "https://partner-v2.example.net/"
    );
    drop(st);
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn rest_deployments_are_paced_and_throttling_is_retried() {
    let (world, v0) = World::new(1, 0);
    let stages = ["prod", "beta", "canary"];
    let state = rest_state(&world, &v0, &stages);
    let pacer = Arc::new(DeploymentPacer::default());
    let rest = RestApiInjector::new(
        api_doubles::rest_api(&state),
        rest_target(&stages),
        H,
        pacer,
    );
    let r = rotation(&world, Box::new(rest));
    r.create(TOKEN).await.unwrap();
    // Another deployment in the account a moment ago: ours is throttled, then retried.
    state.lock().unwrap().someone_deployed();
    let started = tokio::time::Instant::now();
    r.set(TOKEN).await.unwrap();
    let st = state.lock().unwrap();
    assert_eq!(st.deployments, 3, "one per stage");
    assert_eq!(st.throttled, 1, "the first attempt hit the quota");
    assert!(
        started.elapsed() >= TIMING.acceptor_settle + Duration::from_secs(10),
        "spaced by the quota"
    );
    drop(st);
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn rest_resources_narrow_the_integrations_that_get_the_secret() {
    let (world, v0) = World::new(1, 0);
    let state = rest_state(&world, &v0, &["prod"]);
    let mut target = rest_target(&["prod"]);
    target.uri_prefix = None;
    target.resources = vec!["/{proxy+}".into()];
    let rest = RestApiInjector::new(api_doubles::rest_api(&state), target, H, Arc::default());
    let sent = rest.sent().await.unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].location, "stage prod: ANY /{proxy+}");
    // Without uri_prefix or origins: the ALB and a partner are two hosts, so the choice
    // is refused (changing nothing), naming each integration and where it sends.
    let mut target = rest_target(&["prod"]);
    target.uri_prefix = None;
    let unsure = RestApiInjector::new(
        api_doubles::rest_api(&state),
        target.clone(),
        H,
        Arc::default(),
    );
    let e = unsure.sent().await.unwrap_err();
    assert!(matches!(e, SyncError::Refused(_)), "{e}");
    let text = e.to_string();
    assert!(text.contains("ANY /{proxy+} → alb.example.com"), "{text}");
    assert!(
        text.contains("GET /partner → partner.example.net"),
        "{text}"
    );
    // With the origins named: only the ALB's, and status says what was left alone.
    let named = RestApiInjector::new(api_doubles::rest_api(&state), target, H, Arc::default())
        .with_origins(vec!["alb.example.com".into()]);
    let sent = named.sent().await.unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let left = named.left_alone().await.unwrap();
    assert_eq!(
        left,
        [
            "POST /fn (AWS_PROXY): cannot carry the header",
            "GET /partner (to partner.example.net): not one of the origins"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn rest_a_canary_override_is_switched_with_its_stage_and_a_canary_deployment_is_refused() {
    let (world, v0) = World::new(1, 0);
    let state = rest_state(&world, &v0, &["prod"]);
    {
        let mut st = state.lock().unwrap();
        st.variables
            .insert("originVerify".into(), v0.expose_str().into());
        st.variables.insert("other".into(), "keep".into());
        let overrides = BTreeMap::from([("originVerify".to_owned(), v0.expose_str().to_owned())]);
        st.canary = Some(("canary-deployment".into(), 10.0, overrides));
    }
    let target = RestApiTarget {
        role_arn: None,
        external_id: None,
        region: None,
        api_id: "api".into(),
        stages: vec!["prod".into()],
        mode: RestApiMode::StageVariable,
        variable: Some("originVerify".into()),
        resources: vec![],
        uri_prefix: None,
    };
    let rest = RestApiInjector::new(api_doubles::rest_api(&state), target, H, Arc::default());
    let sent = rest.sent().await.unwrap();
    let locations: Vec<&str> = sent.iter().map(|s| s.location.as_str()).collect();
    assert_eq!(
        locations,
        [
            "stage prod variable originVerify",
            "stage prod canary variable originVerify"
        ]
    );
    let r = rotation(&world, Box::new(rest));
    r.create(TOKEN).await.unwrap();
    r.set(TOKEN).await.unwrap();
    let v1 = world.state().stage("AWSPENDING").unwrap();
    {
        let st = state.lock().unwrap();
        assert_eq!(st.variables["originVerify"], v1.expose_str());
        assert_eq!(
            st.canary.as_ref().unwrap().2["originVerify"],
            v1.expose_str(),
            "the canary too"
        );
        assert_eq!(st.variables["other"], "keep");
    }
    r.finish(TOKEN).await.unwrap();
    world.assert_no_violations();

    // Integration mode: the canary keeps the literal of its own deployment, which this
    // tool does not deploy: refused before anything changes.
    let (world, v0) = World::new(1, 0);
    let state = rest_state(&world, &v0, &["prod"]);
    state.lock().unwrap().canary = Some(("canary-deployment".into(), 25.0, BTreeMap::new()));
    let rest = RestApiInjector::new(
        api_doubles::rest_api(&state),
        rest_target(&["prod"]),
        H,
        Arc::default(),
    );
    let r = rotation(&world, Box::new(rest));
    let e = r.create(TOKEN).await.unwrap_err();
    assert!(matches!(e, SyncError::Refused(_)), "{e}");
    assert!(
        e.to_string()
            .contains("25% of its traffic on deployment canary-deployment"),
        "{e}"
    );
    assert!(
        world.state().stage("AWSPENDING").is_none(),
        "nothing created"
    );
}

#[tokio::test(start_paused = true)]
async fn http_api_integrations_go_only_to_the_origins() {
    let (world, v0) = World::new(1, 0);
    let state = http_state(&world, &v0);
    {
        let mut st = state.lock().unwrap();
        let partner = method(
            "/partner",
            "POST",
            "HTTP_PROXY",
            "https://partner.example.net/hook",
            &[],
        );
        st.working.push(partner.clone());
        st.deployed.get_mut("live").unwrap().push(partner);
    }
    let unsure = HttpApiInjector::new(
        api_doubles::http_api(&state, "live"),
        http_target(&[]),
        H,
        Arc::default(),
    );
    let e = unsure.sent().await.unwrap_err();
    assert!(matches!(e, SyncError::Refused(_)), "{e}");
    assert!(
        e.to_string()
            .contains("integration i2 → partner.example.net"),
        "{e}"
    );
    let named = HttpApiInjector::new(
        api_doubles::http_api(&state, "live"),
        http_target(&[]),
        H,
        Arc::default(),
    )
    .with_origins(vec!["alb.example.com".into()]);
    assert_eq!(
        named.left_alone().await.unwrap(),
        [
            "integration i1 (AWS_PROXY): cannot carry the header",
            "integration i2 (to partner.example.net): not one of the origins"
        ]
    );
    let r = rotation(&world, Box::new(named));
    r.create(TOKEN).await.unwrap();
    r.set(TOKEN).await.unwrap();
    assert_eq!(
        state.lock().unwrap().working_value("/partner", HTTP_KEY),
        None,
        "the partner never gets it"
    );
    // Listing the partner's integration explicitly while origins say otherwise: refused.
    let listed = HttpApiInjector::new(
        api_doubles::http_api(&state, "live"),
        http_target(&["i0", "i2"]),
        H,
        Arc::default(),
    )
    .with_origins(vec!["alb.example.com".into()]);
    let e = listed.sent().await.unwrap_err();
    assert!(e.to_string().contains("not sending to an origin"), "{e}");
    world.assert_no_violations();
}

fn http_state(world: &World, v0: &Secret) -> Shared {
    let working = vec![
        method(
            "/{proxy+}",
            "ANY",
            "HTTP_PROXY",
            ALB,
            &[
                (HTTP_KEY, v0.expose_str().to_owned()),
                ("append:header.x-trace", "keep".into()),
            ],
        ),
        method(
            "/fn",
            "POST",
            "AWS_PROXY",
            "arn:aws:lambda:us-east-1:1:function:fn",
            &[],
        ),
    ];
    let mut state = ApiState {
        working: working.clone(),
        guard: Some((HTTP_KEY.into(), world.clone())),
        ..ApiState::default()
    };
    state.deployed.insert("live".into(), working);
    Arc::new(Mutex::new(state))
}

fn http_target(ids: &[&str]) -> HttpApiTarget {
    HttpApiTarget {
        role_arn: None,
        external_id: None,
        region: None,
        api_id: "api".into(),
        integration_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        stage: "live".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn http_api_without_auto_deploy_resumes_a_failed_deployment_and_keeps_other_mappings() {
    let (world, v0) = World::new(1, 0);
    let state = http_state(&world, &v0);
    let http = HttpApiInjector::new(
        api_doubles::http_api(&state, "live"),
        http_target(&[]),
        H,
        Arc::default(),
    );
    let sent = http.sent().await.unwrap();
    assert_eq!(
        sent.len(),
        1,
        "only the HTTP_PROXY integration's route: {sent:?}"
    );
    assert_eq!(sent[0].location, "stage live route ANY /{proxy+}");
    let r = rotation(&world, Box::new(http));
    r.create(TOKEN).await.unwrap();
    let v1 = world.state().stage("AWSPENDING").unwrap();
    state.lock().unwrap().fail_deployments = 1;
    let e = r.set(TOKEN).await.unwrap_err();
    assert!(e.to_string().contains("failed"), "{e}");
    assert_eq!(
        state.lock().unwrap().served("live", "/{proxy+}", HTTP_KEY),
        Some(v0.expose_str().to_owned())
    );
    assert!(
        r.finish(TOKEN).await.is_err(),
        "the stage still serves the old value"
    );
    r.set(TOKEN).await.unwrap();
    r.finish(TOKEN).await.unwrap();
    let st = state.lock().unwrap();
    assert_eq!(
        st.served("live", "/{proxy+}", HTTP_KEY),
        Some(v1.expose_str().to_owned())
    );
    assert_eq!(
        st.served("live", "/{proxy+}", "append:header.x-trace")
            .as_deref(),
        Some("keep")
    );
    assert_eq!(
        st.working_value("/fn", HTTP_KEY),
        None,
        "the Lambda integration never gets it"
    );
    drop(st);
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn http_api_integration_ids_that_are_not_http_proxy_are_refused() {
    let (world, v0) = World::new(1, 0);
    let state = http_state(&world, &v0);
    let http = HttpApiInjector::new(
        api_doubles::http_api(&state, "live"),
        http_target(&["i0", "i1"]),
        H,
        Arc::default(),
    );
    let e = http.sent().await.unwrap_err();
    assert!(matches!(e, SyncError::Refused(_)), "{e}");
    assert!(e.to_string().contains("integration i1 is AWS_PROXY"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn http_api_auto_deploy_is_settled_only_once_its_deployment_is_deployed() {
    let (world, v0) = World::new(1, 0);
    let state = http_state(&world, &v0);
    state.lock().unwrap().auto_deploy = true;
    let http = HttpApiInjector::new(
        api_doubles::http_api(&state, "live"),
        http_target(&[]),
        H,
        Arc::default(),
    );
    let r = rotation(&world, Box::new(http));
    r.create(TOKEN).await.unwrap();
    r.set(TOKEN).await.unwrap();
    assert_eq!(
        state.lock().unwrap().deployments,
        0,
        "auto-deploy: never CreateDeployment"
    );
    // The automatic deployment still running: not in effect everywhere yet.
    state.lock().unwrap().deployment_status = Some("PENDING");
    let e = r.finish(TOKEN).await.unwrap_err();
    assert!(e.to_string().contains("still deploying"), "{e}");
    state.lock().unwrap().deployment_status = None;
    r.finish(TOKEN).await.unwrap();
    // The next rotation, past the window: API Gateway deploys the change a few reads after
    // UpdateIntegration, and this one fails; the switch fails at once, naming it.
    r.prune(true).await.unwrap();
    let token = "5e1d4b3c-2a1f-4e9d-8c7b-6a5f4e3d2c1b";
    r.create(token).await.unwrap();
    {
        let mut st = state.lock().unwrap();
        st.auto_deploy_reads = 2;
        st.fail_deployments = 1;
    }
    let started = tokio::time::Instant::now();
    let e = r.set(token).await.unwrap_err();
    assert!(e.to_string().contains("last deployment failed"), "{e}");
    assert!(
        started.elapsed() < TIMING.cloudfront_deploy_timeout,
        "not at the deadline"
    );
    world.assert_no_violations();
}

#[tokio::test(start_paused = true)]
async fn http_api_auto_deploy_is_not_settled_while_the_stage_still_serves_the_old_deployment() {
    let (world, v0) = World::new(1, 0);
    let state = http_state(&world, &v0);
    {
        let mut st = state.lock().unwrap();
        st.auto_deploy = true;
        // Right after UpdateIntegration the stage keeps serving its deployment for a while.
        st.auto_deploy_reads = 3;
    }
    let http = HttpApiInjector::new(
        api_doubles::http_api(&state, "live"),
        http_target(&[]),
        H,
        Arc::default(),
    );
    let r = rotation(&world, Box::new(http));
    r.create(TOKEN).await.unwrap();
    r.set(TOKEN).await.unwrap();
    let v1 = world.state().stage("AWSPENDING").unwrap();
    // `set` returned only once the stage served the new value.
    assert_eq!(
        state.lock().unwrap().served("live", "/{proxy+}", HTTP_KEY),
        Some(v1.expose_str().to_owned())
    );
    r.finish(TOKEN).await.unwrap();
    world.assert_no_violations();
}
