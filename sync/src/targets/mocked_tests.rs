//! The targets' paths that the emulator (moto 5.2) cannot serve, against the SDK's own
//! test doubles (aws-smithy-mocks): WAF optimistic-lock retries, CloudFront
//! PreconditionFailed retries and the wait for Deployed. (API Gateway deployments have a
//! stateful double of their own: `api_doubles`.) The production code is the same that
//! runs against AWS.

use std::time::Duration;

use aws_smithy_mocks::{RuleMode, mock, mock_client};

use super::cloudfront::CloudFrontInjector;
use super::waf::WafAcceptor;
use super::waf_statement::{self, Shape};
use super::{Acceptor, Injector};
use crate::config::{CloudFrontTarget, WafScope, WafTarget};
use crate::progress::Quiet;
use crate::value::Secret;

const H: &str = "x-origin-verify";

fn v() -> Secret {
    Secret::generate().unwrap()
}

#[tokio::test]
async fn waf_retries_a_lock_conflict_with_a_fresh_read() {
    use aws_sdk_wafv2::operation::get_web_acl::GetWebAclOutput;
    use aws_sdk_wafv2::operation::update_web_acl::{UpdateWebACLError, UpdateWebAclOutput};
    use aws_sdk_wafv2::types::{Rule, VisibilityConfig, WebAcl, error::WafOptimisticLockException};
    let v0 = v();
    let visibility = VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name("m")
        .build()
        .unwrap();
    let acl = WebAcl::builder()
        .name("edge-acl")
        .id("acl-1")
        .arn("arn:aws:wafv2:us-east-1:1:regional/webacl/edge-acl/acl-1")
        .visibility_config(visibility.clone())
        .rules(
            Rule::builder()
                .name("origin-verify")
                .priority(1)
                .statement(waf_statement::write(
                    &Shape::Plain,
                    H,
                    std::slice::from_ref(&v0),
                ))
                .visibility_config(visibility)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let get = mock!(aws_sdk_wafv2::Client::get_web_acl).then_output(move || {
        GetWebAclOutput::builder()
            .web_acl(acl.clone())
            .lock_token("token")
            .build()
    });
    let update = mock!(aws_sdk_wafv2::Client::update_web_acl)
        .sequence()
        .error(|| {
            UpdateWebACLError::WafOptimisticLockException(
                WafOptimisticLockException::builder()
                    .message("changed")
                    .build(),
            )
        })
        .output(|| UpdateWebAclOutput::builder().next_lock_token("t2").build())
        .build();
    let client = mock_client!(aws_sdk_wafv2, RuleMode::MatchAny, [&get, &update]);
    let target = WafTarget {
        role_arn: None,
        external_id: None,
        region: None,
        scope: WafScope::Regional,
        name: "edge-acl".into(),
        id: "acl-1".into(),
        rule: "origin-verify".into(),
    };
    let waf = WafAcceptor::new(client, target, H);
    waf.accept(&[v0, v()]).await.unwrap();
    assert_eq!(update.num_calls(), 2, "one conflict, one retry");
    assert!(get.num_calls() >= 2, "the retry read the web ACL again");
}

fn distribution_config(value: &Secret) -> aws_sdk_cloudfront::types::DistributionConfig {
    use aws_sdk_cloudfront::types::*;
    let headers = CustomHeaders::builder()
        .quantity(2)
        .items(
            OriginCustomHeader::builder()
                .header_name(H)
                .header_value(value.expose_str())
                .build()
                .unwrap(),
        )
        .items(
            OriginCustomHeader::builder()
                .header_name("x-other")
                .header_value("keep")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let origin = Origin::builder()
        .id("alb")
        .domain_name("alb.example.com")
        .custom_headers(headers)
        .build()
        .unwrap();
    DistributionConfig::builder()
        .caller_reference("r")
        .comment("c")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("alb")
                .viewer_protocol_policy(ViewerProtocolPolicy::AllowAll)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn distribution(status: &str) -> aws_sdk_cloudfront::types::Distribution {
    aws_sdk_cloudfront::types::Distribution::builder()
        .id("E1")
        .arn("arn:aws:cloudfront::1:distribution/E1")
        .status(status)
        .last_modified_time(aws_sdk_cloudfront::primitives::DateTime::from_secs(0))
        .in_progress_invalidation_batches(0)
        .domain_name("d.cloudfront.net")
        .build()
        .unwrap()
}

#[tokio::test]
async fn cloudfront_retries_a_stale_etag_and_waits_for_deployed() {
    use aws_sdk_cloudfront::operation::get_distribution::GetDistributionOutput;
    use aws_sdk_cloudfront::operation::get_distribution_config::GetDistributionConfigOutput;
    use aws_sdk_cloudfront::operation::update_distribution::{
        UpdateDistributionError, UpdateDistributionOutput,
    };
    use aws_sdk_cloudfront::types::error::PreconditionFailed;
    let v0 = v();
    let config = distribution_config(&v0);
    let get_config =
        mock!(aws_sdk_cloudfront::Client::get_distribution_config).then_output(move || {
            GetDistributionConfigOutput::builder()
                .distribution_config(config.clone())
                .e_tag("E-1")
                .build()
        });
    let v1 = v();
    let wanted = v1.expose_str().to_owned();
    let update = mock!(aws_sdk_cloudfront::Client::update_distribution)
        .match_requests(move |req| {
            // The header changes on the listed origin; the other header stays.
            let headers = req
                .distribution_config()
                .unwrap()
                .origins()
                .unwrap()
                .items()[0]
                .custom_headers()
                .unwrap()
                .items();
            headers
                .iter()
                .any(|h| h.header_name() == H && h.header_value() == wanted)
                && headers
                    .iter()
                    .any(|h| h.header_name() == "x-other" && h.header_value() == "keep")
                && req.if_match() == Some("E-1")
        })
        .sequence()
        .error(|| {
            UpdateDistributionError::PreconditionFailed(
                PreconditionFailed::builder().message("etag").build(),
            )
        })
        .output(|| UpdateDistributionOutput::builder().build())
        .build();
    let status = mock!(aws_sdk_cloudfront::Client::get_distribution)
        .sequence()
        .output(|| {
            GetDistributionOutput::builder()
                .distribution(distribution("InProgress"))
                .build()
        })
        .output(|| {
            GetDistributionOutput::builder()
                .distribution(distribution("Deployed"))
                .build()
        })
        .build();
    let client = mock_client!(
        aws_sdk_cloudfront,
        RuleMode::MatchAny,
        [&get_config, &update, &status]
    );
    let target = CloudFrontTarget {
        role_arn: None,
        external_id: None,
        region: None,
        distribution_id: "E1".into(),
        origin_ids: vec!["alb".into()],
    };
    let cf = CloudFrontInjector::new(client, target, H).with_poll(Duration::from_millis(10));
    cf.send(&v1, Duration::from_secs(5), &Quiet).await.unwrap();
    assert_eq!(
        update.num_calls(),
        2,
        "a PreconditionFailed, then the retry"
    );
    assert_eq!(
        status.num_calls(),
        2,
        "waited through InProgress to Deployed"
    );
}

#[tokio::test]
async fn cloudfront_still_in_progress_at_the_deadline_fails_retryably() {
    use aws_sdk_cloudfront::operation::get_distribution::GetDistributionOutput;
    use aws_sdk_cloudfront::operation::get_distribution_config::GetDistributionConfigOutput;
    use aws_sdk_cloudfront::operation::update_distribution::UpdateDistributionOutput;
    let config = distribution_config(&v());
    let get_config =
        mock!(aws_sdk_cloudfront::Client::get_distribution_config).then_output(move || {
            GetDistributionConfigOutput::builder()
                .distribution_config(config.clone())
                .e_tag("E-1")
                .build()
        });
    let update = mock!(aws_sdk_cloudfront::Client::update_distribution)
        .then_output(|| UpdateDistributionOutput::builder().build());
    let status = mock!(aws_sdk_cloudfront::Client::get_distribution).then_output(|| {
        GetDistributionOutput::builder()
            .distribution(distribution("InProgress"))
            .build()
    });
    let client = mock_client!(
        aws_sdk_cloudfront,
        RuleMode::MatchAny,
        [&get_config, &update, &status]
    );
    let target = CloudFrontTarget {
        role_arn: None,
        external_id: None,
        region: None,
        distribution_id: "E1".into(),
        origin_ids: vec!["alb".into()],
    };
    let cf = CloudFrontInjector::new(client, target, H).with_poll(Duration::from_millis(10));
    let err = cf
        .send(&v(), Duration::from_millis(100), &Quiet)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("InProgress"), "{err}");
}
