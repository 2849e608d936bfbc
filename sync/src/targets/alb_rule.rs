//! An ALB listener rule's `http-header` condition as an [`Acceptor`]: AWS's own guide for
//! restricting an Application Load Balancer to CloudFront checks the header this way,
//! without WAF. Widened, proven, narrowed like the WAF rule, so a rotation has no 403
//! window here either.
//!
//! What this tool owns is the one `http-header` condition on the configured header; the
//! rule's other conditions, its actions and its priority are never changed. ModifyRule is
//! given the conditions only, the others as read: "Replaces the specified properties of the
//! specified rule. Any properties that you do not specify are unchanged. To add an item to
//! a list, remove an item from a list, or update an item in a list, you must provide the
//! entire list" (ELB API Reference, ModifyRule). A rule without such a condition is refused
//! by name.
//!
//! The ALB's rules, not WAF's ("HttpHeaderConditionConfig", ELB API Reference; "Quotas for
//! your Application Load Balancers", ELB User Guide): values compare **case-insensitively**;
//! `*` and `?` are **wildcards**; a value holds at most **128 characters**; a rule has at
//! most **5 condition values** in all. Generated values have no wildcard, and a hand-put
//! value the rule could not hold exactly is refused before anything is written
//! ([`super::rules::ALB_HEADER_CONDITION`]); a widening past 5 values fails before writing
//! anything, saying how many the other conditions use.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{HttpHeaderConditionConfig, Rule, RuleCondition};

use super::{Acceptor, ValueRule};
use crate::config::AlbRuleTarget;
use crate::error::{SyncError, aws};
use crate::value::{Secret, TargetValue};

/// "Condition values per rule: 5" (Quotas for your Application Load Balancers).
pub const MAX_CONDITION_VALUES: usize = 5;

#[derive(Debug, Clone)]
pub struct AlbRuleAcceptor {
    client: Client,
    target: AlbRuleTarget,
    header: String,
    name: String,
}

impl AlbRuleAcceptor {
    /// Names the account and region this target is called in (status, plan, errors).
    pub fn located(mut self, place: &str) -> Self {
        self.name = format!("{} ({place})", self.name);
        self
    }

    /// `client` must be in the rule's region (the ARN's).
    pub fn new(client: Client, target: AlbRuleTarget, header: &str) -> Self {
        let name = format!("alb_rule {}", target.rule_arn);
        Self {
            client,
            target,
            header: header.to_owned(),
            name,
        }
    }

    fn problem(&self, problem: String) -> SyncError {
        SyncError::Target {
            target: self.name.clone(),
            problem,
        }
    }

    async fn read(&self) -> Result<Rule, SyncError> {
        let out = self
            .client
            .describe_rules()
            .rule_arns(&self.target.rule_arn)
            .send()
            .await
            .map_err(|e| aws(&self.name, "DescribeRules", e))?;
        out.rules()
            .first()
            .cloned()
            .ok_or_else(|| self.problem("DescribeRules returned no rule".into()))
    }

    /// Whether `c` is the condition this tool owns.
    fn is_owned(&self, c: &RuleCondition) -> bool {
        c.field() == Some("http-header")
            && c.http_header_config()
                .and_then(|h| h.http_header_name())
                .is_some_and(|n| n.eq_ignore_ascii_case(&self.header))
    }

    /// The owned condition's values, and the rule's other conditions as they are.
    fn split(&self, rule: &Rule) -> Result<(Vec<TargetValue>, Vec<RuleCondition>), SyncError> {
        let (owned, others): (Vec<&RuleCondition>, Vec<&RuleCondition>) =
            rule.conditions().iter().partition(|c| self.is_owned(c));
        let [owned] = owned.as_slice() else {
            return Err(self.problem(if owned.is_empty() {
                format!(
                    "the rule has no http-header condition on {}: add one (with the current value) before rotating; its other conditions and actions stay as they are",
                    self.header
                )
            } else {
                format!(
                    "the rule has {} http-header conditions on {}: keep one",
                    owned.len(),
                    self.header
                )
            }));
        };
        let values = owned
            .http_header_config()
            .map(|h| h.values().iter().map(TargetValue::new).collect())
            .unwrap_or_default();
        Ok((values, others.into_iter().map(as_written).collect()))
    }
}

impl AlbRuleAcceptor {
    /// Whether the rule has room for `count` header values beside its other conditions.
    fn room(&self, others: &[RuleCondition], count: usize) -> Result<(), SyncError> {
        let used: usize = others.iter().map(values_used).sum();
        if used + count <= MAX_CONDITION_VALUES {
            return Ok(());
        }
        Err(self.problem(format!(
            "accepting {count} values would give the rule {} condition values, over the ALB's {MAX_CONDITION_VALUES}: its other conditions use {used}; free {} of them",
            used + count,
            used + count - MAX_CONDITION_VALUES
        )))
    }
}

/// How many values a condition uses of the rule's 5.
fn values_used(c: &RuleCondition) -> usize {
    let configured = [
        c.host_header_config().map(|h| h.values().len()),
        c.path_pattern_config().map(|p| p.values().len()),
        c.http_header_config().map(|h| h.values().len()),
        c.query_string_config().map(|q| q.values().len()),
        c.http_request_method_config().map(|m| m.values().len()),
        c.source_ip_config().map(|s| s.values().len()),
    ];
    configured
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(c.values().len())
        .max(c.values().len())
}

/// A condition as ModifyRule takes it back: DescribeRules reports the legacy `Values` beside
/// a host-header or path-pattern configuration; both at once is not a valid request.
fn as_written(c: &RuleCondition) -> RuleCondition {
    let mut c = c.clone();
    if c.host_header_config().is_some() || c.path_pattern_config().is_some() {
        c.values = None;
    }
    c
}

#[async_trait]
impl Acceptor for AlbRuleAcceptor {
    fn name(&self) -> &str {
        &self.name
    }

    fn value_rule(&self) -> Option<ValueRule> {
        Some(super::rules::ALB_HEADER_CONDITION)
    }

    async fn accepted(&self) -> Result<Vec<TargetValue>, SyncError> {
        Ok(self.split(&self.read().await?)?.0)
    }

    async fn can_hold(&self, count: usize) -> Result<(), SyncError> {
        let (_, others) = self.split(&self.read().await?)?;
        self.room(&others, count)
    }

    async fn accept(&self, values: &[Secret]) -> Result<(), SyncError> {
        let rule = self.read().await?;
        let (_, others) = self.split(&rule)?;
        self.room(&others, values.len())?;
        let owned = RuleCondition::builder()
            .field("http-header")
            .http_header_config(
                HttpHeaderConditionConfig::builder()
                    .http_header_name(&self.header)
                    .set_values(Some(
                        values.iter().map(|v| v.expose_str().to_owned()).collect(),
                    ))
                    .build(),
            )
            .build();
        let mut conditions = others;
        conditions.push(owned);
        self.client
            .modify_rule()
            .rule_arn(&self.target.rule_arn)
            .set_conditions(Some(conditions))
            .send()
            .await
            .map_err(|e| aws(&self.name, "ModifyRule", e))?;
        Ok(())
    }
}
