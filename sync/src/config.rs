//! The TOML configuration of `edgeguard-sync` (and, as JSON, of the rotation Lambda).
//! Unknown keys and missing pieces are errors naming the key; all are reported at once.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

mod evidence;
mod fields;
mod home;

pub use evidence::{Evidence, Source as EvidenceSource, whole_minutes};
use home::Regions;
pub use home::{GLOBAL_REGION, Home, role_account};

/// The keys every target table has (`Home`): `role_arn`, `external_id`, `region`. Written
/// into each table's struct, so that the struct stays the list of its keys.
macro_rules! homed {
    ($($table:ty),*) => {$(
        impl $table {
            /// Where this target is called.
            pub fn home(&self) -> Home {
                Home {
                    role_arn: self.role_arn.clone(),
                    external_id: self.external_id.clone(),
                    region: self.region.clone(),
                }
            }
        }
    )*};
}
homed!(
    WafTarget,
    AlbRuleTarget,
    RestApiTarget,
    HttpApiTarget,
    CloudFrontTarget
);

/// Everything the rotation needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    pub secret_id: String,
    pub header: String,
    /// Where the header may go: the hosts (or load balancer listener ARNs) of the origins
    /// behind the edge. Integrations chosen by default (HTTP API without
    /// `integration_ids`, REST integration mode without `uri_prefix`) are those that point
    /// at one of them; empty: only when all candidates point at one host.
    pub origins: Vec<String>,
    pub timing: Timing,
    pub waf: Vec<WafTarget>,
    pub alb_rule: Vec<AlbRuleTarget>,
    pub rest_api: Vec<RestApiTarget>,
    pub http_api: Vec<HttpApiTarget>,
    pub cloudfront: Vec<CloudFrontTarget>,
    pub probe: Vec<Probe>,
    /// The evidence gate on pruning (`[evidence]`); `None`: prune trusts the window.
    pub evidence: Option<Evidence>,
    /// Deploy API stages even when the working copy holds changes that are not this
    /// tool's (`--publish-pending-changes`); never from the configuration document.
    pub publish_pending_changes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// After widening acceptors: WAF propagation + the proxies' refresh interval × 2.
    pub acceptor_settle: Duration,
    /// From finish to prune.
    pub dual_accept_window: Duration,
    pub cloudfront_deploy_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum WafScope {
    #[serde(rename = "REGIONAL")]
    Regional,
    #[serde(rename = "CLOUDFRONT")]
    CloudFront,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WafTarget {
    pub scope: WafScope,
    pub name: String,
    pub id: String,
    /// The one rule this tool owns.
    pub rule: String,
    /// Another account: the role to assume there (`Home`).
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

/// An ALB listener rule whose `http-header` condition on the header this tool owns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AlbRuleTarget {
    /// `arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener-rule/app/…`; called in its
    /// region.
    pub rule_arn: String,
    /// Another account: the role to assume there (`Home`).
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

impl AlbRuleTarget {
    /// The region the ARN names.
    pub fn arn_region(&self) -> Option<&str> {
        self.arn_parts().map(|(region, _)| region)
    }

    /// The account the ARN names.
    pub fn arn_account(&self) -> Option<&str> {
        self.arn_parts().map(|(_, account)| account)
    }

    fn arn_parts(&self) -> Option<(&str, &str)> {
        let mut parts = self.rule_arn.split(':');
        match (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) {
            (Some("arn"), Some(_), Some("elasticloadbalancing"), Some(region), Some(account))
                if !region.is_empty() =>
            {
                Some((region, account))
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestApiMode {
    /// Integrations map the header from `stageVariables.<variable>`: no deployment needed.
    StageVariable,
    /// Integrations carry the literal: UpdateIntegration + CreateDeployment per stage.
    Integration,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RestApiTarget {
    pub api_id: String,
    pub stages: Vec<String>,
    pub mode: RestApiMode,
    #[serde(default)]
    pub variable: Option<String>,
    /// Integration mode: only integrations on these resource paths (empty: all).
    #[serde(default)]
    pub resources: Vec<String>,
    /// Integration mode: only integrations whose URI starts with this (the ALB's).
    #[serde(default)]
    pub uri_prefix: Option<String>,
    /// Another account: the role to assume there (`Home`).
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HttpApiTarget {
    pub api_id: String,
    /// Empty: every HTTP_PROXY integration of the API. Listed ones must be HTTP_PROXY.
    #[serde(default)]
    pub integration_ids: Vec<String>,
    #[serde(default = "default_stage")]
    pub stage: String,
    /// Another account: the role to assume there (`Home`).
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

fn default_stage() -> String {
    "$default".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CloudFrontTarget {
    pub distribution_id: String,
    pub origin_ids: Vec<String>,
    /// Another account: the role to assume there (`Home`).
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Probe {
    pub url: String,
    /// Expected status; default 2xx through the edge, 403 for a direct probe.
    #[serde(default)]
    pub expect: Option<u16>,
    /// Sent without the header straight to the ALB (expects 403); also sent with the
    /// pending value before any injector switches, and with it in `test` (expects
    /// `expect_accepted`).
    #[serde(default)]
    pub direct: bool,
    /// Direct probes: the status when the header carries an accepted value (default 2xx).
    #[serde(default)]
    pub expect_accepted: Option<u16>,
}

/// The document as written, before checking.
#[derive(Debug, Deserialize)]
struct Raw {
    secret_id: Option<String>,
    header: Option<String>,
    #[serde(default)]
    origins: Vec<String>,
    #[serde(default)]
    timing: RawTiming,
    #[serde(default)]
    waf: Vec<WafTarget>,
    #[serde(default)]
    alb_rule: Vec<AlbRuleTarget>,
    #[serde(default)]
    rest_api: Vec<RestApiTarget>,
    #[serde(default)]
    http_api: Vec<HttpApiTarget>,
    #[serde(default)]
    cloudfront: Vec<CloudFrontTarget>,
    #[serde(default)]
    probe: Vec<Probe>,
    evidence: Option<evidence::RawEvidence>,
}

#[derive(Debug, Default, Deserialize)]
struct RawTiming {
    acceptor_settle: Option<String>,
    dual_accept_window: Option<String>,
    cloudfront_deploy_timeout: Option<String>,
}

/// Every problem found, each naming its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigErrors(pub Vec<String>);

impl Config {
    pub fn from_file(path: &Path) -> Result<Self, ConfigErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigErrors(vec![format!("--config {}: {e}", path.display())]))?;
        if path.extension().is_some_and(|e| e == "json") {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        }
    }

    /// The roles the targets and evidence sources are reached through, each once, sorted
    /// (what the caller needs `sts:AssumeRole` on).
    pub fn roles(&self) -> Vec<&str> {
        let homes = self
            .waf
            .iter()
            .map(|t| t.role_arn.as_deref())
            .chain(self.alb_rule.iter().map(|t| t.role_arn.as_deref()))
            .chain(self.rest_api.iter().map(|t| t.role_arn.as_deref()))
            .chain(self.http_api.iter().map(|t| t.role_arn.as_deref()))
            .chain(self.cloudfront.iter().map(|t| t.role_arn.as_deref()))
            .chain(
                self.evidence
                    .iter()
                    .flat_map(|e| e.sources.iter().map(|s| s.role_arn.as_deref())),
            );
        let mut roles: Vec<&str> = homes.flatten().collect();
        roles.sort_unstable();
        roles.dedup();
        roles
    }

    /// The secret's region when `secret_id` is an ARN (`arn:aws:secretsmanager:REGION:…`):
    /// its store, and the proxies' metrics beside it, are read there.
    pub fn secret_region(&self) -> Option<&str> {
        let mut parts = self.secret_id.split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("arn"), Some(_), Some("secretsmanager"), Some(region)) if !region.is_empty() => {
                Some(region)
            }
            _ => None,
        }
    }

    pub fn from_toml(text: &str) -> Result<Self, ConfigErrors> {
        let doc: serde_json::Value = toml::from_str(text)
            .map_err(|e| ConfigErrors(vec![format!("config: {}", e.message().trim())]))?;
        Self::from_document(doc)
    }

    pub fn from_json(text: &str) -> Result<Self, ConfigErrors> {
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ConfigErrors(vec![format!("config: {e}")]))?;
        Self::from_document(doc)
    }

    /// Unknown keys anywhere, a misshapen document, and every check of the values: all
    /// reported together.
    fn from_document(doc: serde_json::Value) -> Result<Self, ConfigErrors> {
        let mut errors = unknown_keys(&doc);
        match serde_json::from_value::<Raw>(doc) {
            Ok(raw) => match raw.check() {
                Ok(config) if errors.is_empty() => return Ok(config),
                Ok(_) => {}
                Err(ConfigErrors(more)) => errors.extend(more),
            },
            Err(e) => errors.push(format!("config: {e}")),
        }
        Err(ConfigErrors(errors))
    }
}

/// The keys each part of the document may have: the fields of the structs that read it
/// (`fields::of`), so the structs are the only list.
fn sections() -> [(&'static str, &'static [&'static str]); 8] {
    [
        ("timing", fields::of::<RawTiming>()),
        ("waf", fields::of::<WafTarget>()),
        ("alb_rule", fields::of::<AlbRuleTarget>()),
        ("rest_api", fields::of::<RestApiTarget>()),
        ("http_api", fields::of::<HttpApiTarget>()),
        ("cloudfront", fields::of::<CloudFrontTarget>()),
        ("probe", fields::of::<Probe>()),
        ("evidence", fields::of::<evidence::RawEvidence>()),
    ]
}

/// Tables inside a section: `(section, key, its keys)`.
fn nested() -> [(&'static str, &'static str, &'static [&'static str]); 1] {
    [("evidence", "source", fields::of::<evidence::RawSource>())]
}

/// Every key the document has that the configuration does not, named by its path.
fn unknown_keys(doc: &serde_json::Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(top) = doc.as_object() else {
        return errors;
    };
    let (known, sections, nested) = (fields::of::<Raw>(), sections(), nested());
    for (key, value) in top {
        if !known.contains(&key.as_str()) {
            errors.push(format!("{key}: unknown key"));
            continue;
        }
        let Some((_, allowed)) = sections.iter().find(|(s, _)| s == key) else {
            continue;
        };
        let tables: Vec<(String, &serde_json::Value)> = match value {
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{key}[{i}]"), v))
                .collect(),
            other => vec![(key.clone(), other)],
        };
        for (path, table) in tables {
            for (inner, value) in table.as_object().into_iter().flatten() {
                if !allowed.contains(&inner.as_str()) {
                    errors.push(format!("{path}.{inner}: unknown key"));
                    continue;
                }
                let nested = nested.iter().find(|(s, k, _)| s == key && k == inner);
                let (Some((_, _, keys)), Some(items)) = (nested, value.as_array()) else {
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    for k in item.as_object().map(|o| o.keys()).into_iter().flatten() {
                        if !keys.contains(&k.as_str()) {
                            errors.push(format!("{path}.{inner}[{i}].{k}: unknown key"));
                        }
                    }
                }
            }
        }
    }
    errors
}

impl Raw {
    fn check(self) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut need = |key: &str, v: Option<String>| match v {
            Some(v) if !v.trim().is_empty() => v,
            _ => {
                errors.push(format!("{key}: required"));
                String::new()
            }
        };
        let secret_id = need("secret_id", self.secret_id);
        let header = match edgeguard_secret::header::name(
            self.header
                .as_deref()
                .unwrap_or(edgeguard_secret::header::DEFAULT),
        ) {
            Ok(h) => h,
            Err(e) => {
                errors.push(format!("header: {e}"));
                String::new()
            }
        };
        let mut duration = |key: &str, v: Option<String>, default: &str| {
            let text = v.unwrap_or_else(|| default.into());
            match humantime::parse_duration(&text) {
                Ok(d) => d,
                Err(e) => {
                    errors.push(format!("timing.{key}: \"{text}\" is not a duration: {e}"));
                    Duration::ZERO
                }
            }
        };
        let timing = Timing {
            acceptor_settle: duration("acceptor_settle", self.timing.acceptor_settle, "90s"),
            dual_accept_window: duration(
                "dual_accept_window",
                self.timing.dual_accept_window,
                "15m",
            ),
            cloudfront_deploy_timeout: duration(
                "cloudfront_deploy_timeout",
                self.timing.cloudfront_deploy_timeout,
                "25m",
            ),
        };
        let evidence = self.evidence.map(|e| e.check(&mut errors));
        let mut origins = Vec::new();
        for (i, o) in self.origins.iter().enumerate() {
            match crate::origin::of(o) {
                Some(host) => origins.push(host),
                None => errors.push(format!(
                    "origins[{i}]: \"{o}\" is neither an http(s) URL with a host nor a load balancer listener ARN"
                )),
            }
        }
        for (i, w) in self.waf.iter().enumerate() {
            for (key, v) in [("name", &w.name), ("id", &w.id), ("rule", &w.rule)] {
                if v.trim().is_empty() {
                    errors.push(format!("waf[{i}].{key}: required"));
                }
            }
            let regions = match w.scope {
                WafScope::Regional => Regions::Own,
                WafScope::CloudFront => Regions::Global,
            };
            w.home().check(&format!("waf[{i}]."), regions, &mut errors);
        }
        for (i, a) in self.alb_rule.iter().enumerate() {
            if a.arn_region().is_none() || !a.rule_arn.contains(":listener-rule/") {
                errors.push(format!(
                    "alb_rule[{i}].rule_arn: \"{}\" is not a listener rule ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener-rule/app/…)",
                    a.rule_arn
                ));
            }
            let regions = Regions::FromArn {
                region: a.arn_region(),
                account: a.arn_account(),
            };
            a.home()
                .check(&format!("alb_rule[{i}]."), regions, &mut errors);
        }
        for (i, h) in self.http_api.iter().enumerate() {
            h.home()
                .check(&format!("http_api[{i}]."), Regions::Own, &mut errors);
        }
        for (i, r) in self.rest_api.iter().enumerate() {
            r.home()
                .check(&format!("rest_api[{i}]."), Regions::Own, &mut errors);
            if r.stages.is_empty() {
                errors.push(format!("rest_api[{i}].stages: name at least one stage"));
            }
            match (r.mode, &r.variable) {
                (RestApiMode::StageVariable, None) => errors.push(format!(
                    "rest_api[{i}].variable: required in stage_variable mode"
                )),
                (RestApiMode::Integration, Some(_)) => errors.push(format!(
                    "rest_api[{i}].variable: only for stage_variable mode"
                )),
                _ => {}
            }
            if r.mode == RestApiMode::StageVariable
                && (!r.resources.is_empty() || r.uri_prefix.is_some())
            {
                errors.push(format!(
                    "rest_api[{i}].resources / uri_prefix: only for integration mode (the stage variable is mapped by the integrations that name it)"
                ));
            }
        }
        for (i, c) in self.cloudfront.iter().enumerate() {
            c.home()
                .check(&format!("cloudfront[{i}]."), Regions::Global, &mut errors);
            if c.origin_ids.is_empty() {
                errors.push(format!(
                    "cloudfront[{i}].origin_ids: name at least one origin"
                ));
            }
        }
        for (i, p) in self.probe.iter().enumerate() {
            if p.expect_accepted.is_some() && !p.direct {
                errors.push(format!(
                    "probe[{i}].expect_accepted: only for direct probes"
                ));
            }
            if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
                errors.push(format!(
                    "probe[{i}].url: \"{}\" is not an http(s) URL",
                    p.url
                ));
            }
        }
        if errors.is_empty() {
            Ok(Config {
                secret_id,
                header,
                origins,
                timing,
                waf: self.waf,
                alb_rule: self.alb_rule,
                rest_api: self.rest_api,
                http_api: self.http_api,
                cloudfront: self.cloudfront,
                probe: self.probe,
                evidence,
                publish_pending_changes: false,
            })
        } else {
            Err(ConfigErrors(errors))
        }
    }
}

#[cfg(test)]
mod tests;
