//! Builds a [`Rotation`] from the configuration with real AWS clients (standard
//! credential and region chain; `AWS_ENDPOINT_URL` overrides endpoints).

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::{Config, WafScope};
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

/// WAF for CloudFront and CloudFront itself are global services homed in us-east-1.
const GLOBAL_REGION: &str = "us-east-1";

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// `sdk` in us-east-1, where CloudFront and WAF for CloudFront are called.
pub fn global(sdk: &SdkConfig) -> SdkConfig {
    sdk.to_builder().region(Region::new(GLOBAL_REGION)).build()
}

pub fn rotation(sdk: &SdkConfig, config: &Config, progress: Box<dyn Progress>) -> Rotation {
    let global = global(sdk);
    // A secret named by its ARN is read in the ARN's region, whatever the SDK's default.
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
    let waf_regional = aws_sdk_wafv2::Client::new(sdk);
    let waf_global = aws_sdk_wafv2::Client::new(&global);
    for w in &config.waf {
        let client = match w.scope {
            WafScope::Regional => waf_regional.clone(),
            WafScope::CloudFront => waf_global.clone(),
        };
        rotation = rotation.with_acceptor(Box::new(WafAcceptor::new(client, w.clone(), header)));
    }
    for a in &config.alb_rule {
        // A listener rule is called in its own region (its ARN's).
        let home = match a.region() {
            Some(region) => sdk
                .to_builder()
                .region(Region::new(region.to_owned()))
                .build(),
            None => sdk.clone(),
        };
        let client = aws_sdk_elasticloadbalancingv2::Client::new(&home);
        rotation =
            rotation.with_acceptor(Box::new(AlbRuleAcceptor::new(client, a.clone(), header)));
    }
    // One pacer for the account's API Gateway deployments (1 per 5 s).
    let pacer = Arc::new(DeploymentPacer::default());
    let publish = config.publish_pending_changes;
    let rest = aws_sdk_apigateway::Client::new(sdk);
    for r in &config.rest_api {
        let injector = RestApiInjector::new(rest.clone(), r.clone(), header, pacer.clone())
            .publishing_pending_changes(publish)
            .with_origins(config.origins.clone());
        rotation = rotation.with_injector(Box::new(injector));
    }
    let http = aws_sdk_apigatewayv2::Client::new(sdk);
    for h in &config.http_api {
        let injector = HttpApiInjector::new(http.clone(), h.clone(), header, pacer.clone())
            .publishing_pending_changes(publish)
            .with_origins(config.origins.clone());
        rotation = rotation.with_injector(Box::new(injector));
    }
    let cloudfront = aws_sdk_cloudfront::Client::new(&global);
    for c in &config.cloudfront {
        let poll = config
            .timing
            .cloudfront_deploy_timeout
            .min(Duration::from_secs(10))
            / 5;
        let injector = CloudFrontInjector::new(cloudfront.clone(), c.clone(), header)
            .with_poll(poll.max(Duration::from_millis(200)));
        rotation = rotation.with_injector(Box::new(injector));
    }
    for p in &config.probe {
        rotation = rotation.with_probe(Box::new(HttpProbe::new(p.clone(), header)));
    }
    if let Some(evidence) = &config.evidence {
        // Each source in its own region; by default the secret's, where the proxies that
        // read it run (their metrics land in their own region).
        let witnesses = evidence
            .sources
            .iter()
            .map(|source| {
                let home = match &source.region {
                    Some(region) => sdk.to_builder().region(Region::new(region.clone())).build(),
                    None => secret_home.clone(),
                };
                let client = aws_sdk_cloudwatch::Client::new(&home);
                Box::new(CloudWatchWitness::new(client, source.clone()))
                    as Box<dyn crate::evidence::Witness>
            })
            .collect();
        rotation = rotation.with_evidence(witnesses, evidence.clone());
    }
    rotation
}
