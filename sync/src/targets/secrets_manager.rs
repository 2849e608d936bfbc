//! [`SecretStore`] over AWS Secrets Manager.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::Tag;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{SyncError, aws};
use crate::store::{FINISHED_AT_TAG, PENDING, SecretState, SecretStore, Version};
use crate::targets::{MAX_PAGES, next_page};
use crate::value::SecretValue;

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

    async fn state(&self) -> Result<SecretState, SyncError> {
        let described = self
            .client
            .describe_secret()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| aws(&self.name, "DescribeSecret", e))?;
        let finished_at = described
            .tags()
            .iter()
            .find(|t| t.key() == Some(FINISHED_AT_TAG))
            .and_then(|t| t.value())
            .and_then(|v| OffsetDateTime::parse(v, &Rfc3339).ok())
            .map(SystemTime::from);
        let mut versions = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .list_secret_version_ids()
                .secret_id(&self.secret_id)
                .set_next_token(next.clone())
                .send()
                .await
                .map_err(|e| aws(&self.name, "ListSecretVersionIds", e))?;
            for v in page.versions() {
                let Some(id) = v.version_id() else { continue };
                versions.push(Version {
                    id: id.to_owned(),
                    stages: v.version_stages().to_vec(),
                    created: v.created_date().and_then(|d| SystemTime::try_from(*d).ok()),
                });
            }
            next = next_page(page.next_token(), next.as_deref());
            if next.is_none() {
                break;
            }
        }
        Ok(SecretState {
            versions,
            finished_at,
            rotation_enabled: described.rotation_enabled().unwrap_or(false),
        })
    }

    async fn value(&self, version_id: &str) -> Result<Option<SecretValue>, SyncError> {
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
                return Ok(None);
            }
            Err(e) => return Err(aws(&self.name, "GetSecretValue", e)),
        };
        let Some(text) = out.secret_string() else {
            if out.secret_binary().is_some() {
                return Err(SyncError::Target {
                    target: self.name.clone(),
                    problem: format!("version {version_id} is binary, not a SecretString"),
                });
            }
            return Ok(None);
        };
        SecretValue::from_secret_string(text, &self.header)
            .map(Some)
            .map_err(|e| SyncError::Target {
                target: self.name.clone(),
                problem: format!("version {version_id}: {e}"),
            })
    }

    async fn put_pending(&self, token: &str, value: &SecretValue) -> Result<(), SyncError> {
        self.client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .client_request_token(token)
            .secret_string(value.to_secret_string(&self.header))
            .version_stages(PENDING)
            .send()
            .await
            .map_err(|e| aws(&self.name, "PutSecretValue", e))?;
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

    async fn set_finished_at(&self, at: SystemTime) -> Result<(), SyncError> {
        let text = OffsetDateTime::from(at)
            .format(&Rfc3339)
            .unwrap_or_default();
        self.client
            .tag_resource()
            .secret_id(&self.secret_id)
            .tags(Tag::builder().key(FINISHED_AT_TAG).value(text).build())
            .send()
            .await
            .map_err(|e| aws(&self.name, "TagResource", e))?;
        Ok(())
    }
}
