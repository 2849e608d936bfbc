//! Builds a [`Rotation`] from the configuration with real AWS clients (standard
//! credential and region chain; `AWS_ENDPOINT_URL` overrides endpoints).

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::{Config, WafScope};
use crate::probe::HttpProbe;
use crate::rotation::{Progress, Rotation};
use crate::targets::cloudfront::CloudFrontInjector;
use crate::targets::http_api::HttpApiInjector;
use crate::targets::rest_api::RestApiInjector;
use crate::targets::secrets_manager::SecretsManagerStore;
use crate::targets::waf::WafAcceptor;
use crate::targets::{Acceptor, Injector};

/// WAF for CloudFront and CloudFront itself are global services homed in us-east-1.
const GLOBAL_REGION: &str = "us-east-1";

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

pub fn rotation(sdk: &SdkConfig, config: &Config, progress: Box<dyn Progress>) -> Rotation {
    let global = sdk.to_builder().region(Region::new(GLOBAL_REGION)).build();
    let header = &config.header;
    let store = SecretsManagerStore::new(
        aws_sdk_secretsmanager::Client::new(sdk),
        &config.secret_id,
        header,
    );
    let waf_regional = aws_sdk_wafv2::Client::new(sdk);
    let waf_global = aws_sdk_wafv2::Client::new(&global);
    let acceptors: Vec<Box<dyn Acceptor>> = config
        .waf
        .iter()
        .map(|w| {
            let client = match w.scope {
                WafScope::Regional => waf_regional.clone(),
                WafScope::CloudFront => waf_global.clone(),
            };
            Box::new(WafAcceptor::new(client, w.clone(), header)) as Box<dyn Acceptor>
        })
        .collect();
    let rest = aws_sdk_apigateway::Client::new(sdk);
    let http = aws_sdk_apigatewayv2::Client::new(sdk);
    let cloudfront = aws_sdk_cloudfront::Client::new(&global);
    let mut injectors: Vec<Box<dyn Injector>> = Vec::new();
    for r in &config.rest_api {
        injectors.push(Box::new(RestApiInjector::new(
            rest.clone(),
            r.clone(),
            header,
        )));
    }
    for h in &config.http_api {
        injectors.push(Box::new(HttpApiInjector::new(
            http.clone(),
            h.clone(),
            header,
        )));
    }
    for c in &config.cloudfront {
        let poll = config
            .timing
            .cloudfront_deploy_timeout
            .min(std::time::Duration::from_secs(10))
            / 5;
        let injector = CloudFrontInjector::new(cloudfront.clone(), c.clone(), header)
            .with_poll(poll.max(std::time::Duration::from_millis(200)));
        injectors.push(Box::new(injector));
    }
    let probes = config
        .probe
        .iter()
        .map(|p| Box::new(HttpProbe::new(p.clone())) as Box<dyn crate::probe::Probe>)
        .collect();
    Rotation {
        secret_id: config.secret_id.clone(),
        store: Box::new(store),
        acceptors,
        injectors,
        probes,
        timing: config.timing,
        progress,
        clock: crate::rotation::system_clock(),
    }
}
