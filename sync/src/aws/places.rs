//! The SDK configuration each target is called with: the default credential chain and
//! region, or a role in another account (`role_arn`, `external_id`) and another region.
//!
//! One credentials provider per role: every client of that role shares it, and the SDK's
//! identity cache (built into every client from the same `SdkConfig`) keeps its
//! credentials and renews them before they expire ("Credentials caching", AWS SDK for
//! Rust developer guide). The roles are assumed once up front (`check`), so that a role
//! that cannot be assumed stops the run before any target is read or written.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::time::Duration;

use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;

use crate::config::Home;
use crate::error::SyncError;

/// A role, and the targets that use it (for an error that names them).
struct Role {
    provider: SharedCredentialsProvider,
    targets: Vec<String>,
}

pub(super) struct Places<'a> {
    sdk: &'a SdkConfig,
    session_name: String,
    /// By (role ARN, external id).
    roles: BTreeMap<(String, Option<String>), Role>,
    /// The default credentials' account, for the names of targets without a role.
    own_account: Option<String>,
}

impl<'a> Places<'a> {
    /// `secret_id` names the sessions (`RoleSessionName`), so that CloudTrail in the other
    /// account says which tool and which secret assumed its role.
    pub(super) async fn new(sdk: &'a SdkConfig, secret_id: &str) -> Places<'a> {
        Places {
            sdk,
            session_name: session_name(secret_id),
            roles: BTreeMap::new(),
            own_account: own_account(sdk).await,
        }
    }

    /// The configuration to call `target` with, and the place to name it by
    /// (`account 222222222222, eu-west-1`). `fixed_region`: the service's own (global
    /// services, a region an ARN names), else `home.region`, else the default.
    pub(super) async fn config(
        &mut self,
        target: &str,
        home: &Home,
        fixed_region: Option<&str>,
    ) -> (SdkConfig, String) {
        let mut builder = self.sdk.to_builder();
        if let Some(region) = fixed_region.or(home.region.as_deref()) {
            builder = builder.region(Region::new(region.to_owned()));
        }
        if let Some(role_arn) = &home.role_arn {
            let key = (role_arn.clone(), home.external_id.clone());
            let role = match self.roles.entry(key) {
                Entry::Occupied(role) => role.into_mut(),
                Entry::Vacant(slot) => {
                    let mut assume = AssumeRoleProvider::builder(role_arn)
                        .session_name(&self.session_name)
                        .configure(self.sdk);
                    if let Some(id) = &home.external_id {
                        assume = assume.external_id(id);
                    }
                    slot.insert(Role {
                        provider: SharedCredentialsProvider::new(assume.build().await),
                        targets: Vec::new(),
                    })
                }
            };
            role.targets.push(target.to_owned());
            builder = builder.credentials_provider(role.provider.clone());
        }
        let config = builder.build();
        let account = match home.account() {
            Some(account) => account.to_owned(),
            None => self
                .own_account
                .clone()
                .unwrap_or_else(|| "the default credentials' account".into()),
        };
        let region = config
            .region()
            .map(|r| r.as_ref().to_owned())
            .unwrap_or_else(|| "no region".into());
        (config, format!("account {account}, {region}"))
    }

    /// Assumes every role once. A role that cannot be assumed (AccessDenied: the trust
    /// policy does not name this caller, or the external id differs) is refused here,
    /// naming the role and its targets, before any target is read or written.
    pub(super) async fn check(&self) -> Result<(), SyncError> {
        for ((role_arn, _), role) in &self.roles {
            if let Err(e) = role.provider.provide_credentials().await {
                return Err(SyncError::Refused(format!(
                    "cannot assume role {role_arn} (for {}): {}; nothing was read or written. The role's trust policy must allow sts:AssumeRole to the identity this runs as, with the external_id if it asks for one (deploy/cloudformation/README.md, \"Targets in other accounts\")",
                    role.targets.join(", "),
                    why(&e),
                )));
            }
        }
        Ok(())
    }
}

/// STS's code and message when it refused (`AccessDenied: User: … is not authorized to
/// perform: sts:AssumeRole on resource: …`), else the whole error's context.
fn why(e: &(dyn std::error::Error + 'static)) -> String {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>() {
            if let Some(code) = refused.code() {
                return format!("{code}: {}", refused.message().unwrap_or_default());
            }
        }
        source = err.source();
    }
    DisplayErrorContext(e).to_string()
}

/// `edgeguard-<secret name>` in the characters STS allows (`[\w+=,.@-]`, 2–64).
fn session_name(secret_id: &str) -> String {
    // An ARN's last part is `secret:NAME-SUFFIX`; a name may hold '/'.
    let name = secret_id.rsplit(':').next().unwrap_or(secret_id);
    let cleaned: String = format!("edgeguard-{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    cleaned
}

/// The default credentials' account (STS GetCallerIdentity, which needs no permission),
/// for the names of targets without a role; `None` when it cannot be told.
/// Bounded: only a name hangs on it (an STS endpoint a VPC cannot reach).
async fn own_account(sdk: &SdkConfig) -> Option<String> {
    let call = aws_sdk_sts::Client::new(sdk).get_caller_identity().send();
    match tokio::time::timeout(Duration::from_secs(5), call).await {
        Ok(Ok(identity)) => identity.account().map(str::to_owned),
        Ok(Err(e)) => {
            tracing::debug!(error = %DisplayErrorContext(&e), "GetCallerIdentity failed");
            None
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::session_name;

    #[test]
    fn session_names_say_edgeguard_and_the_secret_in_sts_characters() {
        assert_eq!(
            session_name("edgeguard/origin-verify"),
            "edgeguard-edgeguard-origin-verify"
        );
        assert_eq!(
            session_name("arn:aws:secretsmanager:eu-west-1:111111111111:secret:app/ov-AbCdEf"),
            "edgeguard-app-ov-AbCdEf"
        );
        let long = session_name(&"x".repeat(200));
        assert_eq!(long.len(), 64);
    }
}
