//! [`SecretStore`] over AWS Secrets Manager.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::Tag;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{SyncError, aws};
use edgeguard_secret::document;

use crate::store::{
    DocumentProblem, FINISHED_AT_TAG, FINISHED_VERSION_TAG, PENDING, SecretState, SecretStore,
    Stored, Version,
};
use crate::targets::paginate;
use crate::value::Secret;

/// What a version's GetSecretValue answer means to the rotation: the shared parser's
/// verdict, the one every proxy applies.
pub fn stored(secret_string: Option<&str>, binary: bool, header: &str) -> Stored {
    match (secret_string, binary) {
        (Some(text), _) => match document::parse(text, header) {
            Ok(secret) => Stored::Value(secret),
            Err(problem) => Stored::Unusable(problem),
        },
        (None, false) => Stored::NotYet,
        (None, true) => Stored::Unusable(DocumentProblem::NoString),
    }
}

#[derive(Debug, Clone)]
pub struct SecretsManagerStore {
    client: Client,
    secret_id: String,
    header: String,
    name: String,
}

impl SecretsManagerStore {
    pub fn new(client: Client, secret_id: &str, header: &str) -> Self {
        Self {
            client,
            secret_id: secret_id.to_owned(),
            header: header.to_owned(),
            name: format!("secretsmanager:{secret_id}"),
        }
    }
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    fn name(&self) -> &str {
        &self.name
    }

    /// Stages from `DescribeSecret.VersionIdsToStages`, as AWS's own rotation functions
    /// read them. Creation dates (for "is AWSPENDING in progress?") come from
    /// ListSecretVersionIds, read only while an AWSPENDING exists.
    async fn state(&self) -> Result<SecretState, SyncError> {
        let described = self
            .client
            .describe_secret()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| aws(&self.name, "DescribeSecret", e))?;
        let tag = |key: &str| {
            described
                .tags()
                .iter()
                .find(|t| t.key() == Some(key))
                .and_then(|t| t.value())
        };
        let finished_at = tag(FINISHED_AT_TAG)
            .and_then(|v| OffsetDateTime::parse(v, &Rfc3339).ok())
            .map(SystemTime::from);
        let finished_version = tag(FINISHED_VERSION_TAG).map(str::to_owned);
        let lock = tag(crate::lock::TAG).and_then(crate::lock::Lock::from_tag);
        let mut versions: Vec<Version> = described
            .version_ids_to_stages()
            .into_iter()
            .flatten()
            .map(|(id, stages)| Version {
                id: id.clone(),
                stages: stages.clone(),
                created: None,
            })
            .collect();
        versions.sort_by(|a, b| a.id.cmp(&b.id));
        if versions.iter().any(|v| v.has(PENDING)) {
            let listed = paginate(|next| async move {
                let page = self
                    .client
                    .list_secret_version_ids()
                    .secret_id(&self.secret_id)
                    .set_next_token(next)
                    .send()
                    .await
                    .map_err(|e| aws(&self.name, "ListSecretVersionIds", e))?;
                Ok((
                    page.versions().to_vec(),
                    page.next_token().map(str::to_owned),
                ))
            })
            .await?;
            for v in &mut versions {
                v.created = listed
                    .iter()
                    .find(|l| l.version_id() == Some(v.id.as_str()))
                    .and_then(|l| l.created_date())
                    .and_then(|d| SystemTime::try_from(*d).ok());
            }
        }
        Ok(SecretState {
            versions,
            finished_at,
            finished_version,
            lock,
            rotation_enabled: described.rotation_enabled().unwrap_or(false),
        })
    }

    async fn value(&self, version_id: &str) -> Result<Stored, SyncError> {
        let sent = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_id(version_id)
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(Stored::NotYet);
            }
            Err(e) => return Err(aws(&self.name, "GetSecretValue", e)),
        };
        Ok(stored(
            out.secret_string(),
            out.secret_binary().is_some(),
            &self.header,
        ))
    }

    async fn put_pending(&self, token: &str, value: &Secret) -> Result<(), SyncError> {
        self.client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .client_request_token(token)
            .secret_string(document::render(value, &self.header))
            .version_stages(PENDING)
            .send()
            .await
            .map_err(|e| aws(&self.name, "PutSecret", e))?;
        Ok(())
    }

    async fn move_stage(
        &self,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), SyncError> {
        self.client
            .update_secret_version_stage()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .set_move_to_version_id(to.map(str::to_owned))
            .set_remove_from_version_id(from.map(str::to_owned))
            .send()
            .await
            .map_err(|e| aws(&self.name, "UpdateSecretVersionStage", e))?;
        Ok(())
    }

    async fn set_finished_at(&self, at: SystemTime, version: &str) -> Result<(), SyncError> {
        let text = OffsetDateTime::from(at)
            .format(&Rfc3339)
            .unwrap_or_default();
        // One TagResource: the time and the version it belongs to change together.
        self.client
            .tag_resource()
            .secret_id(&self.secret_id)
            .tags(Tag::builder().key(FINISHED_AT_TAG).value(text).build())
            .tags(
                Tag::builder()
                    .key(FINISHED_VERSION_TAG)
                    .value(version)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws(&self.name, "TagResource", e))?;
        Ok(())
    }

    async fn untag(&self, key: &str) -> Result<(), SyncError> {
        self.client
            .untag_resource()
            .secret_id(&self.secret_id)
            .tag_keys(key)
            .send()
            .await
            .map_err(|e| aws(&self.name, "UntagResource", e))?;
        Ok(())
    }

    async fn tag(&self, key: &str, value: &str) -> Result<(), SyncError> {
        self.client
            .tag_resource()
            .secret_id(&self.secret_id)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map_err(|e| aws(&self.name, "TagResource", e))?;
        Ok(())
    }
}
