//! Builds a [`Rotation`] from the configuration with real AWS clients (standard
//! credential and region chain; `AWS_ENDPOINT_URL` overrides endpoints).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::{Config, WafScope};
use crate::error::SyncError;
use crate::evidence::CloudWatchWitness;
use crate::probe::HttpProbe;
use crate::progress::Progress;
use crate::rotation::Rotation;
use crate::targets::alb_rule::AlbRuleAcceptor;
use crate::targets::cloudfront::CloudFrontInjector;
use crate::targets::deployments::DeploymentPacer;
use crate::targets::http_api::HttpApiInjector;
use crate::targets::rest_api::RestApiInjector;
use crate::targets::secrets_manager::SecretsManagerStore;
use crate::targets::waf::WafAcceptor;

mod places;
use places::Places;

pub use crate::config::GLOBAL_REGION;

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// `sdk` in us-east-1, where CloudFront and WAF for CloudFront are called.
pub fn global(sdk: &SdkConfig) -> SdkConfig {
    sdk.to_builder().region(Region::new(GLOBAL_REGION)).build()
}

/// The rotation with a client per target, each in its account and region. Every role in
/// the configuration is assumed before this returns: one that cannot be is an error naming
/// it and its targets, before anything is read or written.
pub async fn rotation(
    sdk: &SdkConfig,
    config: &Config,
    progress: Box<dyn Progress>,
) -> Result<Rotation, SyncError> {
    let mut places = Places::new(sdk, &config.secret_id).await;
    // A secret named by its ARN is read in the ARN's region, whatever the SDK's default.
    // The secret is the rotation's own: always the default credentials.
    let secret_home = match config.secret_region() {
        Some(region) => sdk
            .to_builder()
            .region(Region::new(region.to_owned()))
            .build(),
        None => sdk.clone(),
    };
    let header = &config.header;
    let store = SecretsManagerStore::new(
        aws_sdk_secretsmanager::Client::new(&secret_home),
        &config.secret_id,
        header,
    );
    let mut rotation =
        Rotation::new(&config.secret_id, Box::new(store), config.timing).with_progress(progress);
    for (i, w) in config.waf.iter().enumerate() {
        let fixed = match w.scope {
            WafScope::Regional => None,
            WafScope::CloudFront => Some(GLOBAL_REGION),
        };
        let what = format!("waf[{i}] {}", w.name);
        let (home, place) = places.config(&what, &w.home(), fixed).await;
        let client = aws_sdk_wafv2::Client::new(&home);
        let acceptor = WafAcceptor::new(client, w.clone(), header).located(&place);
        rotation = rotation.with_acceptor(Box::new(acceptor));
    }
    for (i, a) in config.alb_rule.iter().enumerate() {
        // A listener rule is called in its own region (its ARN's).
        let what = format!("alb_rule[{i}] {}", a.rule_arn);
        let (home, place) = places.config(&what, &a.home(), a.arn_region()).await;
        let client = aws_sdk_elasticloadbalancingv2::Client::new(&home);
        let acceptor = AlbRuleAcceptor::new(client, a.clone(), header).located(&place);
        rotation = rotation.with_acceptor(Box::new(acceptor));
    }
    // One pacer per account and region: API Gateway's deployment quota (1 per 5 s) is
    // counted per account in each region.
    let mut pacers: BTreeMap<String, Arc<DeploymentPacer>> = BTreeMap::new();
    let publish = config.publish_pending_changes;
    for (i, r) in config.rest_api.iter().enumerate() {
        let what = format!("rest_api[{i}] {}", r.api_id);
        let (home, place) = places.config(&what, &r.home(), None).await;
        let pacer = pacers.entry(place.clone()).or_default().clone();
        let client = aws_sdk_apigateway::Client::new(&home);
        let injector = RestApiInjector::new(client, r.clone(), header, pacer)
            .publishing_pending_changes(publish)
            .with_origins(config.origins.clone())
            .located(&place);
        rotation = rotation.with_injector(Box::new(injector));
    }
    for (i, h) in config.http_api.iter().enumerate() {
        let what = format!("http_api[{i}] {}", h.api_id);
        let (home, place) = places.config(&what, &h.home(), None).await;
        let pacer = pacers.entry(place.clone()).or_default().clone();
        let client = aws_sdk_apigatewayv2::Client::new(&home);
        let injector = HttpApiInjector::new(client, h.clone(), header, pacer)
            .publishing_pending_changes(publish)
            .with_origins(config.origins.clone())
            .located(&place);
        rotation = rotation.with_injector(Box::new(injector));
    }
    let poll = (config
        .timing
        .cloudfront_deploy_timeout
        .min(Duration::from_secs(10))
        / 5)
    .max(Duration::from_millis(200));
    for (i, c) in config.cloudfront.iter().enumerate() {
        let what = format!("cloudfront[{i}] {}", c.distribution_id);
        let (home, place) = places.config(&what, &c.home(), Some(GLOBAL_REGION)).await;
        let client = aws_sdk_cloudfront::Client::new(&home);
        let injector = CloudFrontInjector::new(client, c.clone(), header)
            .with_poll(poll)
            .located(&place);
        rotation = rotation.with_injector(Box::new(injector));
    }
    for p in &config.probe {
        rotation = rotation.with_probe(Box::new(HttpProbe::new(p.clone(), header)));
    }
    if let Some(evidence) = &config.evidence {
        // Each source in its own region; by default the secret's, where the proxies that
        // read it run (their metrics land in their own region).
        let mut witnesses: Vec<Box<dyn crate::evidence::Witness>> = Vec::new();
        for (i, source) in evidence.sources.iter().enumerate() {
            let what = format!("evidence source[{i}] {}", source.namespace);
            let default_region = config.secret_region();
            let home = source.home();
            let fixed = if home.region.is_none() {
                default_region
            } else {
                None
            };
            let (home, _) = places.config(&what, &home, fixed).await;
            let client = aws_sdk_cloudwatch::Client::new(&home);
            witnesses.push(Box::new(CloudWatchWitness::new(client, source.clone())));
        }
        rotation = rotation.with_evidence(witnesses, evidence.clone());
    }
    places.check().await?;
    Ok(rotation)
}
