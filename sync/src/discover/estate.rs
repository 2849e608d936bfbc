//! Reads the account for [`super::Found`]: read-only calls, every list followed to its
//! last page.
//!
//! The origins' load balancers are those given (`--load-balancer`), those whose DNS name
//! is an origin's host, and those of the listeners an origin names (an HTTP API private
//! integration's target). An origin with a name of its own (an alias record to the ALB)
//! cannot be traced to its load balancer without Route 53; the report says so and asks
//! for `--load-balancer`.

use aws_config::SdkConfig;
use aws_sdk_elasticloadbalancingv2::types::Rule as ListenerRule;
use aws_sdk_wafv2::types::Statement;

use super::{Door, Found, Kind, Parts};
use crate::error::{SyncError, aws};
use crate::origin;
use crate::targets::paginate;

const WHO: &str = "discover";

/// The clients `discover` reads with.
#[derive(Debug, Clone)]
pub struct Clients {
    /// In us-east-1 (CloudFront is global).
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub rest: aws_sdk_apigateway::Client,
    pub http: aws_sdk_apigatewayv2::Client,
    pub waf: aws_sdk_wafv2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
}

impl Clients {
    /// `sdk` in the origins' region; `global` in us-east-1.
    pub fn new(sdk: &SdkConfig, global: &SdkConfig) -> Self {
        Self {
            cloudfront: aws_sdk_cloudfront::Client::new(global),
            rest: aws_sdk_apigateway::Client::new(sdk),
            http: aws_sdk_apigatewayv2::Client::new(sdk),
            waf: aws_sdk_wafv2::Client::new(sdk),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(sdk),
        }
    }
}

/// What to look for.
#[derive(Debug, Clone)]
pub struct Search {
    /// Hosts (lower case) and listener ARNs, as `origin::of` reads an origin URL.
    pub origins: Vec<String>,
    /// Load balancer ARNs given by the person.
    pub load_balancers: Vec<String>,
    pub header: String,
}

/// Every door to `search.origins`.
pub async fn scan(clients: &Clients, search: &Search) -> Result<Found, SyncError> {
    let mut found = Found {
        origins: search.origins.clone(),
        ..Found::default()
    };
    let hosts: Vec<&String> = search
        .origins
        .iter()
        .filter(|o| !origin::is_listener_arn(o))
        .collect();
    let listeners: Vec<String> = search
        .origins
        .iter()
        .filter(|o| origin::is_listener_arn(o))
        .cloned()
        .collect();
    found.load_balancers =
        load_balancers(clients, search, &hosts, &listeners, &mut found.notes).await?;
    found.doors.extend(distributions(clients, &hosts).await?);
    let (lbs, notes) = (&found.load_balancers, &mut found.notes);
    let rest = rest_apis(clients, search, &hosts, lbs, notes).await?;
    let private = &mut found.private_listeners;
    let http = http_apis(clients, &hosts, &listeners, lbs, notes, private).await?;
    private.sort();
    private.dedup();
    found.doors.extend(rest);
    found.doors.extend(http);
    for lb in found.load_balancers.clone() {
        if let Some(door) = web_acl(clients, &search.header, &lb, &mut found.notes).await? {
            found.doors.push(door);
        }
        found
            .doors
            .extend(listener_rules(clients, &search.header, &lb).await?);
    }
    found
        .doors
        .sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    Ok(found)
}

/// The origins' load balancers: given, found by DNS name, or behind a listener named.
async fn load_balancers(
    clients: &Clients,
    search: &Search,
    hosts: &[&String],
    listeners: &[String],
    notes: &mut Vec<String>,
) -> Result<Vec<String>, SyncError> {
    let mut arns = search.load_balancers.clone();
    let all = paginate(|marker| async move {
        let page = clients
            .elb
            .describe_load_balancers()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws(WHO, "DescribeLoadBalancers", e))?;
        let found: Vec<(String, String)> = page
            .load_balancers()
            .iter()
            .map(|lb| {
                (
                    lb.load_balancer_arn().unwrap_or_default().to_owned(),
                    lb.dns_name().unwrap_or_default().to_ascii_lowercase(),
                )
            })
            .collect();
        Ok((found, page.next_marker().map(str::to_owned)))
    })
    .await?;
    for host in hosts {
        // An ALB answers on its name and on `dualstack.` before it.
        let bare = host.strip_prefix("dualstack.").unwrap_or(host);
        match all.iter().find(|(_, dns)| dns == bare) {
            Some((arn, _)) => arns.push(arn.clone()),
            None if search.load_balancers.is_empty() => notes.push(format!(
                "{host}: no load balancer in this account and region has that DNS name (an alias of its own?): its web ACL and listener rules were not searched; give --load-balancer ARN"
            )),
            None => {}
        }
    }
    if !listeners.is_empty() {
        let page = clients
            .elb
            .describe_listeners()
            .set_listener_arns(Some(listeners.to_vec()))
            .send()
            .await
            .map_err(|e| aws(WHO, "DescribeListeners", e))?;
        for l in page.listeners() {
            if let Some(lb) = l.load_balancer_arn() {
                arns.push(lb.to_owned());
            }
        }
    }
    arns.sort();
    arns.dedup();
    Ok(arns)
}

/// CloudFront distributions with an origin on an origin's host, every page.
async fn distributions(clients: &Clients, hosts: &[&String]) -> Result<Vec<Door>, SyncError> {
    let summaries = paginate(|marker| async move {
        let page = clients
            .cloudfront
            .list_distributions()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws(WHO, "ListDistributions", e))?;
        let list = page.distribution_list();
        let items = list.map(|l| l.items().to_vec()).unwrap_or_default();
        let next = list
            .filter(|l| l.is_truncated())
            .and_then(|l| l.next_marker().map(str::to_owned));
        Ok((items, next))
    })
    .await?;
    let mut doors = Vec::new();
    for d in summaries {
        let mut origin_ids = Vec::new();
        let mut reaches = Vec::new();
        for o in d.origins().map(|o| o.items()).unwrap_or_default() {
            let domain = o.domain_name().to_ascii_lowercase();
            if hosts.iter().any(|h| **h == domain) {
                origin_ids.push(o.id().to_owned());
                reaches.push(format!("origin {} → {}", o.id(), o.domain_name()));
            }
        }
        if !origin_ids.is_empty() {
            doors.push(Door {
                kind: Kind::CloudFront,
                id: d.id().to_owned(),
                name: d.domain_name().to_owned(),
                reaches,
                parts: Parts::CloudFront { origin_ids },
            });
        }
    }
    Ok(doors)
}

/// REST APIs with an HTTP or HTTP_PROXY integration to an origin's host, or through a VPC
/// link whose targets include an origin's load balancer.
async fn rest_apis(
    clients: &Clients,
    search: &Search,
    hosts: &[&String],
    load_balancers: &[String],
    notes: &mut Vec<String>,
) -> Result<Vec<Door>, SyncError> {
    let apis = paginate(|position| async move {
        let page = clients
            .rest
            .get_rest_apis()
            .limit(500)
            .set_position(position)
            .send()
            .await
            .map_err(|e| aws(WHO, "GetRestApis", e))?;
        Ok((page.items().to_vec(), page.position().map(str::to_owned)))
    })
    .await?;
    let header_parameter = format!("integration.request.header.{}", search.header);
    let mut doors = Vec::new();
    for api in apis {
        let api_id = api.id().unwrap_or_default();
        let methods = crate::targets::rest_api::methods(&clients.rest, api_id, WHO).await?;
        let mut reaches = Vec::new();
        let mut variables = Vec::new();
        for m in methods {
            let v = &m.view;
            if v.kind != "http" && v.kind != "http_proxy" {
                continue;
            }
            let to_host = origin::of(&v.uri).is_some_and(|h| hosts.contains(&&h));
            let through_link = !v.connection_id.is_empty()
                && vpc_link_reaches(clients, &v.connection_id, load_balancers).await?;
            if !(to_host || through_link) {
                continue;
            }
            let via = if through_link {
                format!(" through VPC link {}", v.connection_id)
            } else {
                String::new()
            };
            reaches.push(format!(
                "{} {} ({}) → {}{via}",
                m.http_method,
                m.path,
                v.kind.to_ascii_uppercase(),
                v.uri
            ));
            variables.push(
                v.request_parameters
                    .get(&header_parameter)
                    .and_then(|p| p.strip_prefix("stageVariables."))
                    .map(str::to_owned),
            );
        }
        if reaches.is_empty() {
            continue;
        }
        // Stage variable mode needs every integration to map the header from one variable.
        let variable = match variables.first() {
            Some(Some(first)) if variables.iter().all(|v| v.as_ref() == Some(first)) => {
                Some(first.clone())
            }
            _ => None,
        };
        let page = clients
            .rest
            .get_stages()
            .rest_api_id(api_id)
            .send()
            .await
            .map_err(|e| aws(WHO, "GetStages", e))?;
        let names = page.item().iter().filter_map(|s| s.stage_name());
        let what = format!("REST API {api_id} ({})", api.name().unwrap_or_default());
        let Some(stages) = serving(&what, names, notes) else {
            continue;
        };
        doors.push(Door {
            kind: Kind::RestApi,
            id: api_id.to_owned(),
            name: api.name().unwrap_or_default().to_owned(),
            reaches,
            parts: Parts::RestApi { stages, variable },
        });
    }
    Ok(doors)
}

/// An API's stage names, sorted; `None` (and a note) when it has none: it serves nothing.
fn serving<'a>(
    what: &str,
    names: impl Iterator<Item = &'a str>,
    notes: &mut Vec<String>,
) -> Option<Vec<String>> {
    let mut stages: Vec<String> = names.map(str::to_owned).collect();
    stages.sort();
    if stages.is_empty() {
        notes.push(format!(
            "{what} has integrations to the origin but no stage: it serves nothing yet"
        ));
        return None;
    }
    Some(stages)
}

/// Whether a REST VPC link's targets (network load balancers) include an origin's.
async fn vpc_link_reaches(
    clients: &Clients,
    link: &str,
    load_balancers: &[String],
) -> Result<bool, SyncError> {
    let out = clients
        .rest
        .get_vpc_link()
        .vpc_link_id(link)
        .send()
        .await
        .map_err(|e| aws(WHO, "GetVpcLink", e))?;
    Ok(out.target_arns().iter().any(|t| load_balancers.contains(t)))
}

/// HTTP APIs with an HTTP_PROXY integration to an origin's host, to a listener named as
/// an origin, or to a listener of an origin's load balancer (a private integration).
async fn http_apis(
    clients: &Clients,
    hosts: &[&String],
    listeners: &[String],
    load_balancers: &[String],
    notes: &mut Vec<String>,
    private_listeners: &mut Vec<String>,
) -> Result<Vec<Door>, SyncError> {
    let apis = paginate(|next| async move {
        let page = clients
            .http
            .get_apis()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| aws(WHO, "GetApis", e))?;
        Ok((page.items().to_vec(), page.next_token().map(str::to_owned)))
    })
    .await?;
    let mut doors = Vec::new();
    for api in apis {
        let api_id = api.api_id().unwrap_or_default();
        let mut integration_ids = Vec::new();
        let mut reaches = Vec::new();
        for i in crate::targets::http_api::integrations(&clients.http, api_id, WHO).await? {
            let uri = i.integration_uri().unwrap_or_default();
            let is_proxy = i.integration_type().map(|t| t.as_str()) == Some("HTTP_PROXY");
            if !is_proxy {
                continue;
            }
            let id = i.integration_id().unwrap_or_default().to_owned();
            if origin::is_listener_arn(uri) {
                let named = listeners.iter().any(|l| l == uri);
                if named
                    || listener_of(clients, uri)
                        .await?
                        .is_some_and(|lb| load_balancers.contains(&lb))
                {
                    reaches.push(format!(
                        "integration {id} (HTTP_PROXY) through a VPC link → the origin's listener {uri}"
                    ));
                    integration_ids.push(id);
                    if !named {
                        private_listeners.push(uri.to_owned());
                    }
                }
            } else if origin::of(uri).is_some_and(|h| hosts.contains(&&h)) {
                reaches.push(format!("integration {id} (HTTP_PROXY) → {uri}"));
                integration_ids.push(id);
            }
        }
        if integration_ids.is_empty() {
            continue;
        }
        let page = clients
            .http
            .get_stages()
            .api_id(api_id)
            .send()
            .await
            .map_err(|e| aws(WHO, "GetStages", e))?;
        let names = page.items().iter().filter_map(|s| s.stage_name());
        let what = format!("HTTP API {api_id} ({})", api.name().unwrap_or_default());
        let Some(stages) = serving(&what, names, notes) else {
            continue;
        };
        doors.push(Door {
            kind: Kind::HttpApi,
            id: api_id.to_owned(),
            name: api.name().unwrap_or_default().to_owned(),
            reaches,
            parts: Parts::HttpApi {
                integration_ids,
                stages,
            },
        });
    }
    Ok(doors)
}

/// The load balancer of a listener, if the listener exists.
async fn listener_of(clients: &Clients, listener: &str) -> Result<Option<String>, SyncError> {
    let out = clients
        .elb
        .describe_listeners()
        .listener_arns(listener)
        .send()
        .await;
    match out {
        Ok(page) => Ok(page
            .listeners()
            .first()
            .and_then(|l| l.load_balancer_arn().map(str::to_owned))),
        // A listener deleted since the integration was made sends nowhere.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_listener_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws(WHO, "DescribeListeners", e)),
    }
}

/// The web ACL associated with a load balancer, as a door when it has rules on the
/// header (the rules this tool would own); otherwise a note.
async fn web_acl(
    clients: &Clients,
    header: &str,
    load_balancer: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Door>, SyncError> {
    let out = clients
        .waf
        .get_web_acl_for_resource()
        .resource_arn(load_balancer)
        .send()
        .await
        .map_err(|e| aws(WHO, "GetWebACLForResource", e))?;
    let Some(acl) = out.web_acl() else {
        return Ok(None);
    };
    let rules: Vec<String> = acl
        .rules()
        .iter()
        .filter(|r| r.statement().is_some_and(|s| checks_header(s, header)))
        .map(|r| r.name().to_owned())
        .collect();
    if rules.is_empty() {
        notes.push(format!(
            "web ACL {} ({}) on {load_balancer} has no rule on {header}: the proxies are the only check (docs/adopt.md shows how to add one, in Count mode first)",
            acl.name(),
            acl.id()
        ));
        return Ok(None);
    }
    Ok(Some(Door {
        kind: Kind::Waf,
        id: acl.id().to_owned(),
        name: acl.name().to_owned(),
        reaches: rules
            .iter()
            .map(|r| format!("rule {r} checks {header} (on {load_balancer})"))
            .collect(),
        parts: Parts::Waf {
            name: acl.name().to_owned(),
            rules,
        },
    }))
}

/// Whether a WAF statement looks at the header anywhere (a byte or regex match on the
/// single header, alone or inside AND, OR, NOT).
fn checks_header(s: &Statement, header: &str) -> bool {
    let on_header = |f: Option<&aws_sdk_wafv2::types::FieldToMatch>| {
        f.and_then(|f| f.single_header())
            .is_some_and(|h| h.name().eq_ignore_ascii_case(header))
    };
    if let Some(b) = s.byte_match_statement() {
        return on_header(b.field_to_match());
    }
    if let Some(r) = s.regex_match_statement() {
        return on_header(r.field_to_match());
    }
    if let Some(a) = s.and_statement() {
        return a.statements().iter().any(|x| checks_header(x, header));
    }
    if let Some(o) = s.or_statement() {
        return o.statements().iter().any(|x| checks_header(x, header));
    }
    if let Some(n) = s.not_statement() {
        return n.statement().is_some_and(|x| checks_header(x, header));
    }
    false
}

/// The load balancer's listener rules with an `http-header` condition on the header.
async fn listener_rules(
    clients: &Clients,
    header: &str,
    load_balancer: &str,
) -> Result<Vec<Door>, SyncError> {
    let listeners = paginate(|marker| async move {
        let page = clients
            .elb
            .describe_listeners()
            .load_balancer_arn(load_balancer)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws(WHO, "DescribeListeners", e))?;
        let arns: Vec<String> = page
            .listeners()
            .iter()
            .filter_map(|l| l.listener_arn().map(str::to_owned))
            .collect();
        Ok((arns, page.next_marker().map(str::to_owned)))
    })
    .await?;
    let mut doors = Vec::new();
    for listener in listeners {
        let rules = paginate(|marker| {
            let listener = listener.clone();
            async move {
                let page = clients
                    .elb
                    .describe_rules()
                    .listener_arn(listener)
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(|e| aws(WHO, "DescribeRules", e))?;
                Ok((page.rules().to_vec(), page.next_marker().map(str::to_owned)))
            }
        })
        .await?;
        for rule in rules.iter().filter(|r| rule_checks_header(r, header)) {
            let values: usize = rule
                .conditions()
                .iter()
                .filter_map(|c| c.http_header_config())
                .map(|h| h.values().len())
                .sum();
            doors.push(Door {
                kind: Kind::AlbRule,
                id: rule.rule_arn().unwrap_or_default().to_owned(),
                name: listener.clone(),
                reaches: vec![format!(
                    "priority {}: an http-header condition on {header} with {values} value(s)",
                    rule.priority().unwrap_or("?")
                )],
                parts: Parts::AlbRule,
            });
        }
    }
    Ok(doors)
}

fn rule_checks_header(rule: &ListenerRule, header: &str) -> bool {
    rule.conditions().iter().any(|c| {
        c.field() == Some("http-header")
            && c.http_header_config()
                .and_then(|h| h.http_header_name())
                .is_some_and(|n| n.eq_ignore_ascii_case(header))
    })
}

/// Paths the emulator cannot show: a second page of distributions (moto pages only after
/// 100), and a header check nested in a statement. Against the SDK's test doubles; the
/// production code is the same that runs against AWS.
#[cfg(test)]
mod tests {
    use aws_sdk_cloudfront::operation::list_distributions::ListDistributionsOutput;
    use aws_sdk_cloudfront::types as cft;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    fn summary(id: &str, origin_domain: &str) -> cft::DistributionSummary {
        let origin = cft::Origin::builder()
            .id("o")
            .domain_name(origin_domain)
            .build()
            .unwrap();
        cft::DistributionSummary::builder()
            .id(id)
            .arn(format!("arn:aws:cloudfront::1:distribution/{id}"))
            .status("Deployed")
            .last_modified_time(aws_sdk_cloudfront::primitives::DateTime::from_secs(0))
            .domain_name(format!("{id}.cloudfront.net"))
            .aliases(cft::Aliases::builder().quantity(0).build().unwrap())
            .origins(
                cft::Origins::builder()
                    .quantity(1)
                    .items(origin)
                    .build()
                    .unwrap(),
            )
            .comment("")
            .price_class(cft::PriceClass::PriceClassAll)
            .enabled(true)
            .web_acl_id("")
            .http_version(cft::HttpVersion::Http2)
            .is_ipv6_enabled(true)
            .staging(false)
            .build()
            .unwrap()
    }

    fn page(items: Vec<cft::DistributionSummary>, next: Option<&str>) -> ListDistributionsOutput {
        let list = cft::DistributionList::builder()
            .marker("")
            .max_items(1)
            .is_truncated(next.is_some())
            .quantity(items.len() as i32)
            .set_items(Some(items))
            .set_next_marker(next.map(str::to_owned))
            .build()
            .unwrap();
        ListDistributionsOutput::builder()
            .distribution_list(list)
            .build()
    }

    #[tokio::test]
    async fn every_page_of_distributions_is_read() {
        let first = mock!(aws_sdk_cloudfront::Client::list_distributions)
            .match_requests(|r| r.marker().is_none())
            .then_output(|| page(vec![summary("E1", "blog.example.net")], Some("E1")));
        let second = mock!(aws_sdk_cloudfront::Client::list_distributions)
            .match_requests(|r| r.marker() == Some("E1"))
            .then_output(|| page(vec![summary("E2", "origin.example.com")], None));
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let clients = Clients {
            cloudfront: mock_client!(aws_sdk_cloudfront, RuleMode::MatchAny, [&first, &second]),
            ..Clients::new(&sdk, &sdk)
        };
        let host = "origin.example.com".to_owned();
        let doors = distributions(&clients, &[&host]).await.unwrap();
        let ids: Vec<&str> = doors.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["E2"], "the match on the second page is found");
        assert_eq!(first.num_calls() + second.num_calls(), 2);
    }

    /// moto keeps no `connectionId` on a REST integration, so a private integration
    /// through a VPC link (to a network load balancer in front of the origin's) is served
    /// by the SDK's doubles here, as the API Gateway reference describes it: the
    /// integration names the link, the link its target load balancers.
    #[tokio::test]
    async fn a_rest_integration_through_a_vpc_link_to_the_origins_load_balancer_is_a_door() {
        use aws_sdk_apigateway::operation::get_resources::GetResourcesOutput;
        use aws_sdk_apigateway::operation::get_rest_apis::GetRestApisOutput;
        use aws_sdk_apigateway::operation::get_stages::GetStagesOutput;
        use aws_sdk_apigateway::operation::get_vpc_link::GetVpcLinkOutput;
        use aws_sdk_apigateway::types as api;
        const NLB: &str = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/origin/1";
        let apis = mock!(aws_sdk_apigateway::Client::get_rest_apis).then_output(|| {
            GetRestApisOutput::builder()
                .items(api::RestApi::builder().id("private").name("inside").build())
                .build()
        });
        let resources = mock!(aws_sdk_apigateway::Client::get_resources).then_output(|| {
            let integration = api::Integration::builder()
                .r#type(api::IntegrationType::HttpProxy)
                .uri("http://nlb.internal.example/{proxy}")
                .connection_type(api::ConnectionType::VpcLink)
                .connection_id("link-1")
                .build();
            let method = api::Method::builder()
                .http_method("ANY")
                .method_integration(integration)
                .build();
            GetResourcesOutput::builder()
                .items(
                    api::Resource::builder()
                        .id("r1")
                        .path("/{proxy+}")
                        .resource_methods("ANY", method)
                        .build(),
                )
                .build()
        });
        let link = mock!(aws_sdk_apigateway::Client::get_vpc_link)
            .match_requests(|r| r.vpc_link_id() == Some("link-1"))
            .then_output(|| GetVpcLinkOutput::builder().target_arns(NLB).build());
        let stages = mock!(aws_sdk_apigateway::Client::get_stages).then_output(|| {
            GetStagesOutput::builder()
                .item(api::Stage::builder().stage_name("prod").build())
                .build()
        });
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let clients = Clients {
            rest: mock_client!(
                aws_sdk_apigateway,
                RuleMode::MatchAny,
                [&apis, &resources, &link, &stages]
            ),
            ..Clients::new(&sdk, &sdk)
        };
        let search = Search {
            origins: vec!["origin.example.com".into()],
            load_balancers: vec![],
            header: "x-origin-verify".into(),
        };
        let host = "origin.example.com".to_owned();
        let mut notes = Vec::new();
        let doors = rest_apis(&clients, &search, &[&host], &[NLB.to_owned()], &mut notes)
            .await
            .unwrap();
        assert_eq!(doors.len(), 1, "{doors:?}");
        assert!(doors[0].reaches[0].contains("through VPC link link-1"));
        // Another load balancer behind the link: not a door to this origin.
        let mut notes = Vec::new();
        let elsewhere = rest_apis(
            &clients,
            &search,
            &[&host],
            &["arn:other".into()],
            &mut notes,
        )
        .await
        .unwrap();
        assert!(elsewhere.is_empty());
    }

    #[test]
    fn a_header_check_is_found_inside_and_or_not() {
        use aws_sdk_wafv2::types as waf;
        let value = crate::value::Secret::generate().unwrap();
        let on = |name: &str| {
            crate::targets::waf_statement::write(
                &crate::targets::waf_statement::Shape::Plain,
                name,
                std::slice::from_ref(&value),
            )
        };
        let not = |s: waf::Statement| {
            waf::Statement::builder()
                .not_statement(waf::NotStatement::builder().statement(s).build())
                .build()
        };
        let or = |a: waf::Statement, b: waf::Statement| {
            waf::Statement::builder()
                .or_statement(
                    waf::OrStatement::builder()
                        .statements(a)
                        .statements(b)
                        .build()
                        .unwrap(),
                )
                .build()
        };
        assert!(checks_header(&on("X-Origin-Verify"), "x-origin-verify"));
        assert!(checks_header(
            &not(or(on("user-agent"), on("x-origin-verify"))),
            "x-origin-verify"
        ));
        assert!(!checks_header(&not(on("user-agent")), "x-origin-verify"));
    }
}
