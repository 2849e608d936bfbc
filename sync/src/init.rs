//! `init`: the configuration that covers every door `discover` found, as commented TOML.
//!
//! What it writes passes `check-config`, and `discover` with it finds every door
//! configured. Names and ids only: it never reads, let alone writes, a secret value.

use std::fmt::Write as _;

use crate::discover::{Door, Found, Parts};

/// What the person gave besides what was found.
#[derive(Debug, Clone)]
pub struct Given {
    pub secret_id: String,
    pub header: String,
    /// The origins as given (URLs or listener ARNs), written back as they were.
    pub origins: Vec<String>,
}

/// A TOML basic string (the names AWS allows hold no control characters, but a name is
/// the account's to choose: escape what TOML needs escaped).
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quoted(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// A comment line (a name could hold a line break: it must not end the comment).
fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "# {line}");
    }
}

fn reaches(out: &mut String, door: &Door) {
    for line in &door.reaches {
        comment(out, &format!("  {line}"));
    }
}

/// The configuration, as text.
pub fn render(given: &Given, found: &Found) -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "edgeguard-sync configuration, written by `edgeguard-sync init` from what `discover` found.",
    );
    comment(
        &mut out,
        "Read it, then: edgeguard-sync --config THIS check-config && edgeguard-sync --config THIS discover",
    );
    comment(&mut out, "Adoption, step by step: docs/adopt.md.");
    out.push('\n');
    let _ = writeln!(out, "secret_id = {}", quoted(&given.secret_id));
    let _ = writeln!(out, "header = {}", quoted(&given.header));
    comment(
        &mut out,
        "Where the header may go: integrations to any other host never receive it.",
    );
    let mut origins = given.origins.clone();
    if !found.private_listeners.is_empty() {
        comment(
            &mut out,
            "With the listeners of the origin's load balancer that HTTP API private integrations send to.",
        );
        origins.extend(found.private_listeners.iter().cloned());
    }
    let _ = writeln!(out, "origins = {}", list(&origins));

    for door in &found.doors {
        out.push('\n');
        match &door.parts {
            Parts::CloudFront { origin_ids } => {
                comment(
                    &mut out,
                    &format!(
                        "CloudFront distribution {} ({}): sends to the origin through",
                        door.id, door.name
                    ),
                );
                reaches(&mut out, door);
                out.push_str("[[cloudfront]]\n");
                let _ = writeln!(out, "distribution_id = {}", quoted(&door.id));
                let _ = writeln!(out, "origin_ids = {}", list(origin_ids));
            }
            Parts::RestApi { stages, variable } => {
                comment(
                    &mut out,
                    &format!(
                        "REST API {} ({}): sends to the origin through",
                        door.id, door.name
                    ),
                );
                reaches(&mut out, door);
                out.push_str("[[rest_api]]\n");
                let _ = writeln!(out, "api_id = {}", quoted(&door.id));
                let _ = writeln!(out, "stages = {}", list(stages));
                match variable {
                    Some(v) => {
                        comment(
                            &mut out,
                            "Its integrations map the header from this stage variable: a rotation changes the variable, no deployment.",
                        );
                        out.push_str("mode = \"stage_variable\"\n");
                        let _ = writeln!(out, "variable = {}", quoted(v));
                    }
                    None => {
                        comment(
                            &mut out,
                            &format!(
                                "integration mode: each rotation writes the header into these integrations and deploys each stage.\n\
                                 stage_variable mode needs no deployment: map integration.request.header.{}\n\
                                 to stageVariables.originVerify on each of them first (docs/sync.md).",
                                given.header
                            ),
                        );
                        out.push_str("mode = \"integration\"\n");
                    }
                }
            }
            Parts::HttpApi {
                integration_ids,
                stages,
            } => {
                comment(
                    &mut out,
                    &format!(
                        "HTTP API {} ({}): sends to the origin through",
                        door.id, door.name
                    ),
                );
                reaches(&mut out, door);
                let stage = if stages.iter().any(|s| s == "$default") || stages.is_empty() {
                    "$default".to_owned()
                } else {
                    stages[0].clone()
                };
                if stages.len() > 1 {
                    comment(
                        &mut out,
                        &format!(
                            "Its stages: {}. One [[http_api]] per stage that serves traffic.",
                            stages.join(", ")
                        ),
                    );
                }
                out.push_str("[[http_api]]\n");
                let _ = writeln!(out, "api_id = {}", quoted(&door.id));
                let _ = writeln!(out, "integration_ids = {}", list(integration_ids));
                let _ = writeln!(out, "stage = {}", quoted(&stage));
            }
            Parts::Waf { name, rules } => {
                comment(
                    &mut out,
                    &format!(
                        "WAF web ACL {name} ({}), associated with the origin's load balancer: its rule {} checks the header.",
                        door.id, rules[0]
                    ),
                );
                comment(
                    &mut out,
                    "Leave the rule in Count mode until the proxies' reported requests have stopped (docs/adopt.md).",
                );
                if rules.len() > 1 {
                    comment(
                        &mut out,
                        &format!(
                            "It has {} rules on the header ({}); edgeguard owns one. Remove the others or name the one to keep.",
                            rules.len(),
                            rules.join(", ")
                        ),
                    );
                }
                out.push_str("[[waf]]\nscope = \"REGIONAL\"\n");
                let _ = writeln!(out, "name = {}", quoted(name));
                let _ = writeln!(out, "id = {}", quoted(&door.id));
                let _ = writeln!(out, "rule = {}", quoted(&rules[0]));
            }
            Parts::AlbRule => {
                comment(
                    &mut out,
                    &format!(
                        "ALB listener rule on {}: its http-header condition checks the header (its other conditions, actions and priority stay as they are).",
                        door.name
                    ),
                );
                reaches(&mut out, door);
                out.push_str("[[alb_rule]]\n");
                let _ = writeln!(out, "rule_arn = {}", quoted(&door.id));
            }
        }
    }
    if found.doors.is_empty() {
        out.push('\n');
        comment(
            &mut out,
            "discover found nothing that sends to these origins: check the origins and the account and region.",
        );
    }
    for note in &found.notes {
        out.push('\n');
        comment(&mut out, &format!("Note: {note}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_toml_strings_and_comments_stay_comments() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quoted("x\ny"), "\"x\\u000Ay\"");
        let mut out = String::new();
        comment(&mut out, "one\nsecret_id = \"taken over\"");
        assert_eq!(out, "# one\n# secret_id = \"taken over\"\n");
    }
}
