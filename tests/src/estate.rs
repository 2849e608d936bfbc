//! Front doors a live service may have that nobody listed, made on the emulator: a
//! distribution, a REST API, an HTTP API (also through a VPC link), and the origin's load
//! balancer with a listener. What `discover` must find, or must leave out.

use aws_sdk_apigateway::types::IntegrationType as RestType;
use aws_sdk_apigatewayv2::types::{ConnectionType, IntegrationType, ProtocolType};
use aws_sdk_cloudfront::types as cft;
use aws_sdk_elasticloadbalancingv2::types as elb;

use crate::client;
use crate::moto::Moto;

/// A CloudFront distribution with one custom origin `app` on `domain`.
pub async fn distribution(sdk: &aws_config::SdkConfig, reference: &str, domain: &str) -> String {
    distribution_with(sdk, reference, "app", domain, &[]).await
}

/// A CloudFront distribution with one custom origin `origin_id` on `domain`, which adds
/// `headers` to its requests.
pub async fn distribution_with(
    sdk: &aws_config::SdkConfig,
    reference: &str,
    origin_id: &str,
    domain: &str,
    headers: &[(&str, &str)],
) -> String {
    let mut custom = cft::CustomHeaders::builder().quantity(headers.len() as i32);
    for (name, value) in headers {
        custom = custom.items(
            cft::OriginCustomHeader::builder()
                .header_name(*name)
                .header_value(*value)
                .build()
                .unwrap(),
        );
    }
    let origin = cft::Origin::builder()
        .id(origin_id)
        .domain_name(domain)
        .custom_headers(custom.build().unwrap())
        .custom_origin_config(
            cft::CustomOriginConfig::builder()
                .http_port(80)
                .https_port(443)
                .origin_protocol_policy(cft::OriginProtocolPolicy::HttpsOnly)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let config = cft::DistributionConfig::builder()
        .caller_reference(reference)
        .comment(reference)
        .enabled(true)
        .origins(
            cft::Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            cft::DefaultCacheBehavior::builder()
                .target_origin_id(origin_id)
                .viewer_protocol_policy(cft::ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = aws_sdk_cloudfront::Client::new(sdk)
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .unwrap();
    out.distribution().unwrap().id().to_owned()
}

/// A REST API whose root GET is an HTTP_PROXY integration to `uri`, deployed to `stage`.
pub async fn rest_api(sdk: &aws_config::SdkConfig, name: &str, uri: &str, stage: &str) -> String {
    let rest = aws_sdk_apigateway::Client::new(sdk);
    let api = rest.create_rest_api().name(name).send().await.unwrap();
    let id = api.id().unwrap().to_owned();
    let resources = rest.get_resources().rest_api_id(&id).send().await.unwrap();
    let root = resources.items()[0].id().unwrap().to_owned();
    rest.put_method()
        .rest_api_id(&id)
        .resource_id(&root)
        .http_method("GET")
        .authorization_type("NONE")
        .send()
        .await
        .unwrap();
    rest.put_integration()
        .rest_api_id(&id)
        .resource_id(&root)
        .http_method("GET")
        .r#type(RestType::HttpProxy)
        .integration_http_method("GET")
        .uri(uri)
        .send()
        .await
        .unwrap();
    let deployment = rest
        .create_deployment()
        .rest_api_id(&id)
        .send()
        .await
        .unwrap();
    rest.create_stage()
        .rest_api_id(&id)
        .stage_name(stage)
        .deployment_id(deployment.id().unwrap())
        .send()
        .await
        .unwrap();
    id
}

/// An HTTP API with one HTTP_PROXY integration to `uri` (through a VPC link when `uri` is
/// a listener ARN) and a `$default` stage: (API id, integration id).
pub async fn http_api(sdk: &aws_config::SdkConfig, name: &str, uri: &str) -> (String, String) {
    let http = aws_sdk_apigatewayv2::Client::new(sdk);
    let api = http
        .create_api()
        .name(name)
        .protocol_type(ProtocolType::Http)
        .send()
        .await
        .unwrap();
    let id = api.api_id().unwrap().to_owned();
    let mut integration = http
        .create_integration()
        .api_id(&id)
        .integration_type(IntegrationType::HttpProxy)
        .integration_uri(uri)
        .integration_method("ANY")
        .payload_format_version("1.0");
    if uri.starts_with("arn:") {
        let link = http
            .create_vpc_link()
            .name(format!("{name}-link"))
            .subnet_ids("subnet-00000001")
            .send()
            .await
            .unwrap();
        integration = integration
            .connection_type(ConnectionType::VpcLink)
            .connection_id(link.vpc_link_id().unwrap());
    }
    let integration = integration.send().await.unwrap();
    http.create_stage()
        .api_id(&id)
        .stage_name("$default")
        .auto_deploy(true)
        .send()
        .await
        .unwrap();
    (id, integration.integration_id().unwrap().to_owned())
}

/// The origin's application load balancer, with an HTTPS listener whose default is 403.
#[derive(Debug, Clone)]
pub struct LoadBalancer {
    pub arn: String,
    pub dns_name: String,
    pub listener: String,
    pub target_group: String,
}

/// Calls the emulator's EC2 Query API directly (the EC2 SDK is large to build, and two
/// calls are all the load balancer needs: a VPC and subnets). Returns the first value of
/// `<tag>` in the answer.
async fn ec2(moto: &Moto, params: &str, tag: &str) -> String {
    let body = format!("{params}&Version=2016-11-15");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: ec2.us-east-1.amazonaws.com\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let addr = format!("127.0.0.1:{}", moto.port()).parse().unwrap();
    let reply = client::raw(addr, request.as_bytes()).await;
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    assert_eq!(reply.status, 200, "EC2 {params}: {text}");
    let open = format!("<{tag}>");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no {tag} in {text}"))
        + open.len();
    let end = start + text[start..].find('<').unwrap();
    text[start..end].to_owned()
}

/// A load balancer named `name` in a new VPC, with a listener and a target group.
pub async fn load_balancer(moto: &Moto, name: &str) -> LoadBalancer {
    let vpc = ec2(moto, "Action=CreateVpc&CidrBlock=10.60.0.0%2F16", "vpcId").await;
    let mut subnets = Vec::new();
    for (cidr, zone) in [
        ("10.60.1.0%2F24", "us-east-1a"),
        ("10.60.2.0%2F24", "us-east-1b"),
    ] {
        let params =
            format!("Action=CreateSubnet&VpcId={vpc}&CidrBlock={cidr}&AvailabilityZone={zone}");
        subnets.push(ec2(moto, &params, "subnetId").await);
    }
    let client = aws_sdk_elasticloadbalancingv2::Client::new(&moto.sdk());
    let lb = client
        .create_load_balancer()
        .name(name)
        .r#type(elb::LoadBalancerTypeEnum::Application)
        .set_subnets(Some(subnets))
        .send()
        .await
        .unwrap();
    let lb = &lb.load_balancers()[0];
    let arn = lb.load_balancer_arn().unwrap().to_owned();
    let target_group = client
        .create_target_group()
        .name(format!("{name}-proxies"))
        .protocol(elb::ProtocolEnum::Http)
        .port(8000)
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_owned();
    let forbidden = elb::Action::builder()
        .r#type(elb::ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            elb::FixedResponseActionConfig::builder()
                .status_code("403")
                .build(),
        )
        .build();
    let listener = client
        .create_listener()
        .load_balancer_arn(&arn)
        .protocol(elb::ProtocolEnum::Http)
        .port(80)
        .default_actions(forbidden)
        .send()
        .await
        .unwrap()
        .listeners()[0]
        .listener_arn()
        .unwrap()
        .to_owned();
    LoadBalancer {
        arn,
        dns_name: lb.dns_name().unwrap().to_owned(),
        listener,
        target_group,
    }
}

/// A listener rule as it stands.
pub async fn listener_rule(sdk: &aws_config::SdkConfig, arn: &str) -> elb::Rule {
    aws_sdk_elasticloadbalancingv2::Client::new(sdk)
        .describe_rules()
        .rule_arns(arn)
        .send()
        .await
        .unwrap()
        .rules()[0]
        .clone()
}

/// A listener rule that forwards to the proxies only with `header: value` (AWS's guide
/// for restricting an ALB to CloudFront). Returns its ARN.
pub async fn header_rule(moto: &Moto, lb: &LoadBalancer, header: &str, value: &str) -> String {
    header_rule_with(moto, lb, header, value, &[], 10).await
}

/// As [`header_rule`], with a path-pattern condition on `paths` beside it when any, at
/// `priority`.
pub async fn header_rule_with(
    moto: &Moto,
    lb: &LoadBalancer,
    header: &str,
    value: &str,
    paths: &[&str],
    priority: i32,
) -> String {
    let client = aws_sdk_elasticloadbalancingv2::Client::new(&moto.sdk());
    let condition = elb::RuleCondition::builder()
        .field("http-header")
        .http_header_config(
            elb::HttpHeaderConditionConfig::builder()
                .http_header_name(header)
                .values(value)
                .build(),
        )
        .build();
    let mut conditions = vec![condition];
    if !paths.is_empty() {
        let mut config = elb::PathPatternConditionConfig::builder();
        for p in paths {
            config = config.values(*p);
        }
        conditions.push(
            elb::RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(config.build())
                .build(),
        );
    }
    let forward = elb::Action::builder()
        .r#type(elb::ActionTypeEnum::Forward)
        .target_group_arn(&lb.target_group)
        .build();
    let out = client
        .create_rule()
        .listener_arn(&lb.listener)
        .priority(priority)
        .set_conditions(Some(conditions))
        .actions(forward)
        .send()
        .await
        .unwrap();
    out.rules()[0].rule_arn().unwrap().to_owned()
}
