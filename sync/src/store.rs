//! The secret store: Secrets Manager's versions and stages are the rotation's state.

use std::time::SystemTime;

use async_trait::async_trait;

pub use edgeguard_secret::document::DocumentProblem;
pub use edgeguard_secret::stage::{CURRENT, PENDING, PREVIOUS};

use crate::error::SyncError;
use crate::value::Secret;
/// Set by `finish` (RFC 3339, UTC): the dual-accept window counts from it.
pub const FINISHED_AT_TAG: &str = "edgeguard:finished-at";
/// Set by `finish` with [`FINISHED_AT_TAG`], in the same call: the version that finish
/// made AWSCURRENT. The time is that rotation's only while this names AWSCURRENT.
pub const FINISHED_VERSION_TAG: &str = "edgeguard:finished-version";
/// Set by `prune --ignore-evidence` (RFC 3339, UTC): a prune that did not wait for proof.
pub const PRUNED_WITHOUT_EVIDENCE_TAG: &str = "edgeguard:pruned-without-evidence";

/// One version of the secret, described without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: String,
    pub stages: Vec<String>,
    pub created: Option<SystemTime>,
}

impl Version {
    pub fn has(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }
}

/// The secret's versions and the time of the last finish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretState {
    pub versions: Vec<Version>,
    pub finished_at: Option<SystemTime>,
    /// The version the last recorded finish made AWSCURRENT (`None` on tags written
    /// before this was recorded).
    pub finished_version: Option<String>,
    /// Whether Secrets Manager rotation is turned on (the rotation Lambda checks it).
    pub rotation_enabled: bool,
    /// The deploy lock, when its tag is there (held or expired).
    pub lock: Option<crate::lock::Lock>,
}

impl SecretState {
    pub fn with_stage(&self, stage: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.has(stage))
    }

    pub fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.id == id)
    }
}

/// What a version holds.
#[derive(Debug, Clone)]
pub enum Stored {
    Value(Secret),
    /// No value yet: Secrets Manager registers the rotation's version id as AWSPENDING
    /// before `createSecret` stores its value.
    NotYet,
    /// A value every proxy skips (or, for another header, refuses): never written to a
    /// target. The problem names no value.
    Unusable(DocumentProblem),
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// A description for messages, such as `secretsmanager:edgeguard/origin-verify`.
    fn name(&self) -> &str;
    async fn state(&self) -> Result<SecretState, SyncError>;
    /// The version's value, read with the shared document parser (the proxies' own).
    async fn value(&self, version_id: &str) -> Result<Stored, SyncError>;
    /// Stores `value` as a new version labelled AWSPENDING, with `token` as its id
    /// (ClientRequestToken: the same call twice creates one version).
    async fn put_pending(&self, token: &str, value: &Secret) -> Result<(), SyncError>;
    /// Moves (`to` and `from`), attaches (`to` only) or detaches (`from` only) a stage.
    async fn move_stage(
        &self,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), SyncError>;
    /// Records that `version` became AWSCURRENT at `at` (both tags in one call).
    async fn set_finished_at(&self, at: SystemTime, version: &str) -> Result<(), SyncError>;
    /// Sets a tag on the secret (names and times only, never a value).
    async fn tag(&self, key: &str, value: &str) -> Result<(), SyncError>;
    /// Removes a tag from the secret.
    async fn untag(&self, key: &str) -> Result<(), SyncError>;
}
