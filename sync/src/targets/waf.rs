//! The WAF web ACL's owned rule as an [`Acceptor`].
//!
//! Read the web ACL (with its LockToken), rewrite only the owned rule's statement, write
//! the whole ACL back with everything else as read; on WAFOptimisticLockException, read
//! again and retry (bounded). Other rules, their order, priorities and visibility configs
//! are passed back untouched.

use async_trait::async_trait;
use aws_sdk_wafv2::Client;
use aws_sdk_wafv2::operation::update_web_acl::builders::UpdateWebACLFluentBuilder;
use aws_sdk_wafv2::types::{Rule, Scope, WebAcl};

use super::waf_statement::{self, Shape};
use super::{Acceptor, Attempt, ValueRule, with_optimistic_lock};
use crate::config::{WafScope, WafTarget};
use crate::error::{SyncError, aws};
use crate::value::{Secret, TargetValue};

#[cfg(test)]
mod tests;

#[derive(Debug, Clone)]
pub struct WafAcceptor {
    client: Client,
    target: WafTarget,
    header: String,
    name: String,
}

impl WafAcceptor {
    /// Names the account and region this target is called in (status, plan, errors).
    pub fn located(mut self, place: &str) -> Self {
        self.name = format!("{} ({place})", self.name);
        self
    }

    /// `client` must be in us-east-1 for the CLOUDFRONT scope.
    pub fn new(client: Client, target: WafTarget, header: &str) -> Self {
        let scope = match target.scope {
            WafScope::Regional => "REGIONAL",
            WafScope::CloudFront => "CLOUDFRONT",
        };
        let name = format!("waf {scope} {}/{}", target.name, target.rule);
        Self {
            client,
            target,
            header: header.to_owned(),
            name,
        }
    }

    fn scope(&self) -> Scope {
        match self.target.scope {
            WafScope::Regional => Scope::Regional,
            WafScope::CloudFront => Scope::Cloudfront,
        }
    }

    async fn read(&self) -> Result<(WebAcl, String), SyncError> {
        let out = self
            .client
            .get_web_acl()
            .name(&self.target.name)
            .scope(self.scope())
            .id(&self.target.id)
            .send()
            .await
            .map_err(|e| aws(&self.name, "GetWebACL", e))?;
        let acl = out
            .web_acl()
            .cloned()
            .ok_or_else(|| self.problem("GetWebACL returned no web ACL"))?;
        let token = out.lock_token().unwrap_or_default().to_owned();
        Ok((acl, token))
    }

    fn problem(&self, problem: &str) -> SyncError {
        SyncError::Target {
            target: self.name.clone(),
            problem: problem.to_owned(),
        }
    }

    /// UpdateWebACL replaces the whole web ACL: every mutable field is given back as
    /// read, only `rules` is ours. `tests::every_web_acl_field_is_given_back` fails when an
    /// SDK upgrade adds a field that is not passed here.
    fn update(
        &self,
        acl: &WebAcl,
        rules: Vec<Rule>,
        lock_token: String,
    ) -> UpdateWebACLFluentBuilder {
        self.client
            .update_web_acl()
            .name(acl.name())
            .scope(self.scope())
            .id(acl.id())
            .lock_token(lock_token)
            .set_rules(Some(rules))
            .set_default_action(acl.default_action().cloned())
            .set_description(acl.description().map(str::to_owned))
            .set_visibility_config(acl.visibility_config().cloned())
            .set_data_protection_config(acl.data_protection_config().cloned())
            .set_custom_response_bodies(acl.custom_response_bodies().cloned())
            .set_captcha_config(acl.captcha_config().cloned())
            .set_challenge_config(acl.challenge_config().cloned())
            .set_token_domains(acl.token_domains.clone())
            .set_association_config(acl.association_config().cloned())
            .set_on_source_d_do_s_protection_config(
                acl.on_source_d_do_s_protection_config().cloned(),
            )
            .set_application_config(acl.application_config().cloned())
            .set_monetization_config(acl.monetization_config().cloned())
    }

    /// The owned rule's shape and values in `acl`.
    fn owned(&self, acl: &WebAcl) -> Result<(usize, Shape, Vec<TargetValue>), SyncError> {
        let Some(position) = acl
            .rules()
            .iter()
            .position(|r| r.name() == self.target.rule)
        else {
            return Err(self.problem(&format!(
                "the web ACL has no rule named \"{}\": create it (an EXACTLY byte match on {}) before rotating",
                self.target.rule, self.header
            )));
        };
        let statement = acl.rules()[position]
            .statement()
            .ok_or_else(|| self.problem("the owned rule has no statement"))?;
        let (shape, values) =
            waf_statement::read(statement, &self.header).map_err(|p| self.problem(&p))?;
        Ok((position, shape, values))
    }
}

#[async_trait]
impl Acceptor for WafAcceptor {
    fn name(&self) -> &str {
        &self.name
    }

    fn value_rule(&self) -> Option<ValueRule> {
        Some(super::rules::WAF_SEARCH_STRING)
    }

    async fn accepted(&self) -> Result<Vec<TargetValue>, SyncError> {
        let (acl, _) = self.read().await?;
        Ok(self.owned(&acl)?.2)
    }

    async fn accept(&self, values: &[Secret]) -> Result<(), SyncError> {
        with_optimistic_lock(&self.name, "LockToken", || async {
            let (acl, lock_token) = self.read().await?;
            let (position, shape, _) = self.owned(&acl)?;
            let mut rules = acl.rules().to_vec();
            rules[position].statement = Some(waf_statement::write(&shape, &self.header, values));
            match self.update(&acl, rules, lock_token).send().await {
                Ok(_) => Ok(Attempt::Done),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_waf_optimistic_lock_exception()) =>
                {
                    Ok(Attempt::Conflict)
                }
                Err(e) => Err(aws(&self.name, "UpdateWebACL", e)),
            }
        })
        .await
    }
}
