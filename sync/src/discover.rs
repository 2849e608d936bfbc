//! `discover`: every door to the origins, and whether the configuration covers it.
//!
//! A live service adopting edgeguard has front doors nobody listed (a preview
//! distribution, an old REST API): each one must send the header before the proxies
//! enforce, or its requests get 403. `discover` reads the account (never writes) and lists
//! everything that sends traffic to the origins or checks the header in front of them:
//! CloudFront distributions with an origin on an origin's host, API Gateway integrations
//! (REST, HTTP API) to an origin's host or through a VPC link to an origin's load
//! balancer, the web ACL associated with that load balancer, and its listener rules with
//! a condition on the header. With a configuration each is marked configured or not.
//! `init` (its own module) writes the configuration that covers them all.
//!
//! Reading the account is [`estate`]'s; this module is the model and its report.

use serde_json::{Value, json};

use crate::config::Config;

pub mod estate;

/// What a door is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    CloudFront,
    RestApi,
    HttpApi,
    Waf,
    AlbRule,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudFront => "cloudfront",
            Self::RestApi => "rest_api",
            Self::HttpApi => "http_api",
            Self::Waf => "waf",
            Self::AlbRule => "alb_rule",
        }
    }
}

/// What the configuration would name of a door, besides its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parts {
    /// The distribution's origins on an origin's host.
    CloudFront { origin_ids: Vec<String> },
    /// The API's stages; the stage variable its integrations already map the header
    /// from, if they all do (then `stage_variable` mode needs no change to the API).
    RestApi {
        stages: Vec<String>,
        variable: Option<String>,
    },
    /// The integrations to an origin, and the API's stages.
    HttpApi {
        integration_ids: Vec<String>,
        stages: Vec<String>,
    },
    /// A regional web ACL's rules that check the header.
    Waf { name: String, rules: Vec<String> },
    /// A listener rule with a condition on the header.
    AlbRule,
}

/// One thing that sends traffic to an origin, or checks the header in front of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Door {
    pub kind: Kind,
    /// Distribution id, API id, web ACL id, listener rule ARN.
    pub id: String,
    /// What a person knows it by: a distribution's domain, an API's name, a web ACL's
    /// name, a rule's listener.
    pub name: String,
    /// How it reaches the origin or checks the header, one line each (never a value).
    pub reaches: Vec<String>,
    pub parts: Parts,
}

/// What `discover` found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The origins searched for (hosts, or listener ARNs).
    pub origins: Vec<String>,
    /// The origins' load balancers (ARNs): given, or found by DNS name.
    pub load_balancers: Vec<String>,
    pub doors: Vec<Door>,
    /// Listeners of the origins' load balancers that HTTP API private integrations send
    /// to: origins too (the rotation sends the header only to origins).
    pub private_listeners: Vec<String>,
    /// What was not searched, or found without being a door, and why.
    pub notes: Vec<String>,
}

/// Whether `config` covers `door`: names it with every part found (a stage or origin it
/// leaves out would keep sending the old value, or none).
pub fn configured(door: &Door, config: &Config) -> bool {
    let covers = |listed: &[String], found: &[String]| found.iter().all(|f| listed.contains(f));
    match &door.parts {
        Parts::CloudFront { origin_ids } => config
            .cloudfront
            .iter()
            .any(|c| c.distribution_id == door.id && covers(&c.origin_ids, origin_ids)),
        Parts::RestApi { stages, .. } => config
            .rest_api
            .iter()
            .any(|r| r.api_id == door.id && covers(&r.stages, stages)),
        Parts::HttpApi {
            integration_ids, ..
        } => config.http_api.iter().any(|h| {
            h.api_id == door.id
                && (h.integration_ids.is_empty() || covers(&h.integration_ids, integration_ids))
        }),
        Parts::Waf { rules, .. } => config
            .waf
            .iter()
            .any(|w| w.id == door.id && rules.contains(&w.rule)),
        Parts::AlbRule => config.alb_rule.iter().any(|a| a.rule_arn == door.id),
    }
}

/// Why a door that is not configured matters, for the report.
fn why_not(door: &Door) -> &'static str {
    match door.kind {
        Kind::AlbRule | Kind::Waf => "after a rotation this rule would refuse the new value",
        _ => "enforcing would refuse its requests",
    }
}

/// The report as text, and how many doors are not configured (`None` config: none is).
pub fn text(found: &Found, config: Option<&Config>) -> (String, usize) {
    let mut out = String::new();
    out.push_str(&format!("origins: {}\n", found.origins.join(", ")));
    if !found.load_balancers.is_empty() {
        out.push_str(&format!(
            "their load balancers: {}\n",
            found.load_balancers.join(", ")
        ));
    }
    let mut missing = 0;
    if found.doors.is_empty() {
        out.push_str("\nnothing found that sends to these origins\n");
    }
    for door in &found.doors {
        let ok = config.is_some_and(|c| configured(door, c));
        if !ok {
            missing += 1;
        }
        let state = match (config, ok) {
            (_, true) => "configured".to_owned(),
            (Some(_), false) => format!("NOT CONFIGURED ({})", why_not(door)),
            (None, false) => "not configured (no --config given)".to_owned(),
        };
        out.push_str(&format!(
            "\n{} {} ({}): {state}\n",
            door.kind.as_str(),
            door.id,
            door.name
        ));
        for line in &door.reaches {
            out.push_str(&format!("    {line}\n"));
        }
    }
    if !found.notes.is_empty() {
        out.push_str("\nnotes:\n");
        for note in &found.notes {
            out.push_str(&format!("  - {note}\n"));
        }
    }
    out.push_str(&format!(
        "\n{} found, {} not configured{}\n",
        found.doors.len(),
        missing,
        if missing > 0 {
            ": `edgeguard-sync init` writes a configuration that covers every one"
        } else {
            ""
        }
    ));
    (out, missing)
}

/// The report as one JSON document, and how many doors are not configured.
pub fn json(found: &Found, config: Option<&Config>) -> (Value, usize) {
    let doors: Vec<Value> = found
        .doors
        .iter()
        .map(|door| {
            let ok = config.is_some_and(|c| configured(door, c));
            json!({
                "kind": door.kind.as_str(),
                "id": door.id,
                "name": door.name,
                "reaches": door.reaches,
                "configured": ok,
            })
        })
        .collect();
    let missing = doors.iter().filter(|d| d["configured"] == false).count();
    let document = json!({
        "origins": found.origins,
        "load_balancers": found.load_balancers,
        "doors": doors,
        "not_configured": missing,
        "notes": found.notes,
    });
    (document, missing)
}
