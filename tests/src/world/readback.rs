//! Reading a world's targets back from the emulator, and the invariant over them.

use aws_sdk_wafv2::types as waf;

use super::{Acceptor, HEADER, OTHER_RULE, RULE, SECRET, VARIABLE, World};

impl World {
    /// Changes the web ACL's rules by hand (as an operator might), keeping the rest.
    pub async fn edit_waf_rules(&self, edit: impl FnOnce(&mut Vec<waf::Rule>)) {
        let wafc = aws_sdk_wafv2::Client::new(&self.sdk);
        let got = wafc
            .get_web_acl()
            .name(&self.waf_name)
            .scope(waf::Scope::Regional)
            .id(&self.waf_id)
            .send()
            .await
            .unwrap();
        let acl = got.web_acl().unwrap().clone();
        let mut rules = acl.rules().to_vec();
        edit(&mut rules);
        wafc.update_web_acl()
            .name(acl.name())
            .scope(waf::Scope::Regional)
            .id(acl.id())
            .set_default_action(acl.default_action().cloned())
            .set_rules(Some(rules))
            .set_visibility_config(acl.visibility_config().cloned())
            .lock_token(got.lock_token().unwrap())
            .send()
            .await
            .unwrap();
    }

    /// The value of each stage, read from Secrets Manager.
    pub async fn staged(&self) -> Staged {
        let sm = aws_sdk_secretsmanager::Client::new(&self.sdk);
        let ids = sm
            .list_secret_version_ids()
            .secret_id(SECRET)
            .send()
            .await
            .unwrap();
        let mut staged = Staged::default();
        for v in ids.versions() {
            let value = sm
                .get_secret_value()
                .secret_id(SECRET)
                .version_id(v.version_id().unwrap())
                .send()
                .await
                .unwrap();
            let doc: serde_json::Value =
                serde_json::from_str(value.secret_string().unwrap()).unwrap();
            let text = doc["value"].as_str().unwrap().to_owned();
            for stage in v.version_stages() {
                match stage.as_str() {
                    "AWSCURRENT" => staged.current = Some(text.clone()),
                    "AWSPENDING" => staged.pending = Some(text.clone()),
                    "AWSPREVIOUS" => staged.previous = Some(text.clone()),
                    _ => {}
                }
            }
        }
        staged
    }

    /// The values the owned WAF rule accepts, and the other rule as it stands.
    pub async fn waf(&self) -> (Vec<String>, waf::Rule) {
        let wafc = aws_sdk_wafv2::Client::new(&self.sdk);
        let acl = wafc
            .get_web_acl()
            .name(&self.waf_name)
            .scope(waf::Scope::Regional)
            .id(&self.waf_id)
            .send()
            .await
            .unwrap();
        let acl = acl.web_acl().unwrap();
        let owned = acl
            .rules()
            .iter()
            .find(|r| r.name() == RULE)
            .expect("owned rule");
        let other = acl
            .rules()
            .iter()
            .find(|r| r.name() == OTHER_RULE)
            .expect("other rule")
            .clone();
        let statement = owned.statement().unwrap();
        let matches: Vec<&waf::ByteMatchStatement> = match statement.or_statement() {
            Some(or) => or
                .statements()
                .iter()
                .filter_map(|s| s.byte_match_statement())
                .collect(),
            None => statement.byte_match_statement().into_iter().collect(),
        };
        let values = matches
            .iter()
            .map(|m| String::from_utf8(m.search_string().as_ref().to_vec()).unwrap())
            .collect();
        (values, other)
    }

    /// What the configured acceptor accepts now: the WAF rule's values, or the ALB listener
    /// rule's header condition values.
    pub async fn accepted(&self) -> Accepted {
        match &self.acceptor {
            Acceptor::Waf => Accepted {
                values: self.waf().await.0,
                alb: false,
            },
            Acceptor::AlbRule { arn } => {
                let values = crate::estate::listener_rule(&self.sdk, arn)
                    .await
                    .conditions()
                    .iter()
                    .filter_map(|c| c.http_header_config())
                    .filter(|h| {
                        h.http_header_name()
                            .is_some_and(|n| n.eq_ignore_ascii_case(HEADER))
                    })
                    .flat_map(|h| h.values().iter().cloned())
                    .collect();
                Accepted { values, alb: true }
            }
        }
    }

    /// What each injector location sends: REST stage variable, HTTP API mapping,
    /// CloudFront origin header; plus the neighbours that must be kept.
    pub async fn injected(&self) -> Injected {
        let rest = aws_sdk_apigateway::Client::new(&self.sdk);
        let stage = rest
            .get_stage()
            .rest_api_id(&self.rest_api_id)
            .stage_name("prod")
            .send()
            .await
            .unwrap();
        let vars = stage.variables().cloned().unwrap_or_default();
        let http = aws_sdk_apigatewayv2::Client::new(&self.sdk);
        let integration = http
            .get_integration()
            .api_id(&self.http_api_id)
            .integration_id(&self.integration_id)
            .send()
            .await
            .unwrap();
        let params = integration
            .request_parameters()
            .cloned()
            .unwrap_or_default();
        let cf = aws_sdk_cloudfront::Client::new(&self.cloudfront_sdk);
        let config = cf
            .get_distribution_config()
            .id(&self.distribution_id)
            .send()
            .await
            .unwrap();
        let origin = config
            .distribution_config()
            .unwrap()
            .origins()
            .unwrap()
            .items()[0]
            .clone();
        let headers = origin
            .custom_headers()
            .map(|h| h.items().to_vec())
            .unwrap_or_default();
        let header = |name: &str| {
            headers
                .iter()
                .find(|h| h.header_name().eq_ignore_ascii_case(name))
                .map(|h| h.header_value().to_owned())
        };
        Injected {
            rest_stage: vars.get(VARIABLE).cloned(),
            rest_unrelated: vars.get("unrelated").cloned(),
            http_api: params.get(&format!("overwrite:header.{HEADER}")).cloned(),
            http_api_other: params.get("append:header.x-trace").cloned(),
            cloudfront: header(HEADER),
            cloudfront_other: header("x-other"),
        }
    }

    /// The invariant, read back from every target: each value an injector sends is
    /// accepted by the WAF rule and is a staged value (so the proxies accept it).
    pub async fn assert_invariant(&self, when: &str) {
        let staged = self.staged().await;
        let accepted = self.accepted().await;
        let injected = self.injected().await;
        for (name, sent) in [
            ("rest stage variable", &injected.rest_stage),
            ("http api mapping", &injected.http_api),
            ("cloudfront origin header", &injected.cloudfront),
        ] {
            let sent = sent
                .as_ref()
                .unwrap_or_else(|| panic!("{when}: {name} sends no header"));
            assert!(
                accepted.allows(sent),
                "{when}: the acceptor rejects what the {name} sends"
            );
            assert!(
                staged.contains(sent),
                "{when}: the proxies reject what the {name} sends"
            );
        }
        assert_eq!(
            injected.rest_unrelated.as_deref(),
            Some("keep-me"),
            "{when}"
        );
        assert_eq!(
            injected.http_api_other.as_deref(),
            Some("keep-me"),
            "{when}"
        );
        assert_eq!(
            injected.cloudfront_other.as_deref(),
            Some("keep-me"),
            "{when}"
        );
    }
}

/// The values an acceptor holds, and how it compares them with a request's.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub values: Vec<String>,
    /// An ALB listener rule: case-insensitive, `*` and `?` wildcards.
    pub alb: bool,
}

impl Accepted {
    /// Whether a request whose header carries `sent` passes.
    pub fn allows(&self, sent: &str) -> bool {
        if self.alb {
            self.values.iter().any(|v| alb_matches(v, sent))
        } else {
            self.values.iter().any(|v| v == sent)
        }
    }
}

/// An ALB `http-header` condition value against a header value, as the ELB API reference
/// says (`HttpHeaderConditionConfig`): "The maximum size of each string is 128 characters.
/// The comparison strings are case insensitive. The following wildcard characters are
/// supported: * (matches 0 or more characters) and ? (matches exactly 1 character)."
/// The whole value must match (a pattern, not a substring).
pub fn alb_matches(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let v: Vec<char> = value.to_lowercase().chars().collect();
    // The classic two-pointer glob: on a mismatch, let the last `*` take one more char.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < v.len() {
        if i < p.len() && (p[i] == '?' || p[i] == v[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::alb_matches;

    #[test]
    fn an_alb_value_matches_as_the_elb_reference_says() {
        assert!(alb_matches("Secret-Value", "secret-value"));
        assert!(alb_matches("secret-value", "SECRET-VALUE"));
        assert!(!alb_matches("secret-value", "secret-value-longer"));
        assert!(!alb_matches("secret-value", "secret"));
        assert!(alb_matches("sec*", "secret-value"));
        assert!(alb_matches("*", ""));
        assert!(alb_matches("s?cret", "SECRET"));
        assert!(!alb_matches("s?cret", "scret"));
        assert!(alb_matches("a*b*c", "aXXbYYc"));
        assert!(!alb_matches("a*b*c", "aXXbYY"));
        assert!(alb_matches("*-value", "secret-value"));
        assert!(!alb_matches("", "x"));
    }
}

/// The value of each stage.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Staged {
    pub current: Option<String>,
    pub pending: Option<String>,
    pub previous: Option<String>,
}

impl Staged {
    pub fn contains(&self, v: &str) -> bool {
        [&self.current, &self.pending, &self.previous]
            .iter()
            .any(|s| s.as_deref() == Some(v))
    }
}

#[derive(Debug, Clone)]
pub struct Injected {
    pub rest_stage: Option<String>,
    pub rest_unrelated: Option<String>,
    pub http_api: Option<String>,
    pub http_api_other: Option<String>,
    pub cloudfront: Option<String>,
    pub cloudfront_other: Option<String>,
}

impl Injected {
    pub fn all_send(&self, v: &str) -> bool {
        [&self.rest_stage, &self.http_api, &self.cloudfront]
            .iter()
            .all(|s| s.as_deref() == Some(v))
    }
}
