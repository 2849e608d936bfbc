//! The Secrets Manager rotation function: a thin shell over the steps.
//!
//! Secrets Manager invokes it with `{"Step": "createSecret"|"setSecret"|"testSecret"|
//! "finishSecret", "SecretId": …, "ClientRequestToken": …}`; an EventBridge schedule
//! invokes the same function with `{"action": "prune"}` (and `{"action": "status"}` is
//! there for operators). Entry checks follow the rotation contract: rotation enabled, the
//! token a version of the secret, nothing to do once it is AWSCURRENT, refused unless it
//! is AWSPENDING.

use std::time::Duration;

use aws_lambda_events::event::secretsmanager::SecretsManagerSecretRotationEvent;
use serde::Deserialize;

use crate::error::SyncError;
use crate::rotation::Rotation;
use crate::store::{CURRENT, PENDING, Stored};

/// Kept free at the end of an invocation for the answer to reach Secrets Manager.
const MARGIN: Duration = Duration::from_secs(20);

/// What the function is invoked with.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    Rotation(SecretsManagerSecretRotationEvent),
    Action(Action),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// `prune` or `status`.
    pub action: String,
}

/// A failure, as the Lambda reports it: whether running it again may help.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    NonRetryable(String),
}

impl From<SyncError> for LambdaError {
    fn from(e: SyncError) -> Self {
        if e.is_retryable() {
            Self::Retryable(e.to_string())
        } else {
            Self::NonRetryable(e.to_string())
        }
    }
}

impl From<LambdaError> for lambda_runtime::Diagnostic {
    fn from(e: LambdaError) -> Self {
        let error_type = match &e {
            LambdaError::Retryable(_) => "Retryable",
            LambdaError::NonRetryable(_) => "NonRetryable",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

/// Handles one invocation with `time_left` before the function's deadline. Returns what
/// was done as a string (never a value), or the `status` report as a JSON object.
pub async fn handle(
    rotation: &Rotation,
    invocation: Invocation,
    time_left: Duration,
) -> Result<serde_json::Value, LambdaError> {
    match invocation {
        Invocation::Rotation(event) => rotate_step(rotation, &event, time_left)
            .await
            .map(serde_json::Value::String),
        Invocation::Action(Action { action }) => match action.as_str() {
            "prune" => scheduled_prune(rotation)
                .await
                .map(serde_json::Value::String),
            "status" => {
                let report = crate::status::status(rotation).await?;
                serde_json::to_value(&report)
                    .map_err(|e| LambdaError::NonRetryable(format!("the report: {e}")))
            }
            other => Err(LambdaError::NonRetryable(format!(
                "unknown action \"{other}\": prune or status"
            ))),
        },
    }
}

async fn rotate_step(
    rotation: &Rotation,
    event: &SecretsManagerSecretRotationEvent,
    time_left: Duration,
) -> Result<String, LambdaError> {
    let token = event.client_request_token.as_str();
    let step = event.step.as_str();
    if !names_secret(&event.secret_id, rotation.secret_id()) {
        return Err(LambdaError::NonRetryable(format!(
            "invoked for {}, but configured for {}",
            event.secret_id,
            rotation.secret_id()
        )));
    }
    // DescribeSecret's VersionIdsToStages, as AWS's rotation templates read it.
    let state = rotation.store().state().await?;
    if !state.rotation_enabled {
        return Err(LambdaError::NonRetryable(
            "rotation is not enabled on the secret".into(),
        ));
    }
    let Some(version) = state.version(token) else {
        return Err(LambdaError::NonRetryable(format!(
            "{token} is not a version of the secret"
        )));
    };
    if version.has(CURRENT) {
        if step == "finishSecret" {
            // A finishSecret retried after AWSCURRENT moved: complete the clean-up
            // (detach AWSPENDING, record the finish) that the first try may not have.
            rotation.finish(token).await?;
        }
        return Ok(format!("{step}: version {token} is already AWSCURRENT"));
    }
    if !version.has(PENDING) {
        return Err(LambdaError::NonRetryable(format!(
            "version {token} is not AWSPENDING"
        )));
    }
    match step {
        "createSecret" => rotation.create(token).await?,
        "setSecret" => {
            let timing = rotation.timing();
            if time_left <= timing.acceptor_settle + MARGIN {
                return Err(LambdaError::NonRetryable(
                    "the function's timeout is shorter than acceptor_settle: raise it to 15 minutes".into(),
                ));
            }
            // One deadline for the whole step: the settle wait, the proof and every
            // injector (switched together) share what is left of the invocation.
            let until = tokio::time::Instant::now() + (time_left - MARGIN);
            rotation.set_until(token, Some(until)).await?
        }
        "testSecret" => {
            // RotateSecret's configuration test runs testSecret on an AWSPENDING that
            // has no value yet (createSecret never ran): nothing to probe.
            if let Stored::NotYet = rotation.store().value(token).await? {
                return Ok(format!(
                    "testSecret: version {token} has no value yet (the configuration test): nothing to probe"
                ));
            }
            rotation.test(token).await?
        }
        "finishSecret" => rotation.finish(token).await?,
        other => {
            return Err(LambdaError::NonRetryable(format!(
                "unknown step \"{other}\""
            )));
        }
    }
    Ok(format!("{step}: done for version {token}"))
}

/// The scheduled prune: nothing to do (no AWSPREVIOUS, or the window not over) is not a
/// failure; a refusal for safety (an injector not on the current value) is. With
/// `[evidence]`, every run also sends a request with AWSCURRENT through each direct probe,
/// so that an idle service keeps fresh evidence (the schedule runs every 2 minutes).
async fn scheduled_prune(rotation: &Rotation) -> Result<String, LambdaError> {
    let staged = rotation.staged().await?;
    if staged.previous.is_none() {
        return Ok("prune: nothing to prune".into());
    }
    if staged.pending.is_some() {
        return Ok("prune: a rotation is under way; pruning later".into());
    }
    if let Err(refusal) = rotation.not_locked(&staged.state, "the prune") {
        return Ok(format!("prune: postponed, {refusal}"));
    }
    // A finish cut short before its record: the window starts now, never in the past.
    rotation.record_window_start(&staged).await?;
    let staged = rotation.staged().await?;
    rotation.heartbeat(&staged).await;
    let left = rotation.window_left(&staged);
    if !left.is_zero() {
        return Ok(format!(
            "prune: the dual-accept window has {}s left",
            left.as_secs()
        ));
    }
    // With [evidence]: not quiet yet is not a failure either; the next schedule tries again.
    if let Some(report) = rotation.evidence_report(&staged).await? {
        if !report.quiet() {
            tracing::warn!(evidence = %report, "prune postponed: the evidence is not quiet");
            return Ok(format!("prune: postponed, {report}"));
        }
    }
    match rotation.prune(false).await {
        Ok(()) => Ok("prune: done".into()),
        // Secrets Manager started a rotation while this one read the evidence (the two run
        // side by side): that rotation prunes first, with the same guards.
        Err(SyncError::Refused(why)) if why.starts_with("a rotation started meanwhile") => {
            Ok(format!("prune: {why}"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether the event's SecretId (an ARN, as Secrets Manager sends it) is the configured
/// secret (a name or an ARN). Secret ARNs end in `:secret:<name>-<6 characters>`.
fn names_secret(event_id: &str, configured: &str) -> bool {
    if event_id == configured {
        return true;
    }
    let name = event_id
        .rsplit_once(":secret:")
        .map(|(_, n)| n)
        .unwrap_or(event_id);
    let without_suffix = name.rsplit_once('-').map(|(n, _)| n).unwrap_or(name);
    configured == name || configured == without_suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_names_the_configured_secret() {
        let arn =
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:edgeguard/origin-verify-AbCdEf";
        assert!(names_secret(arn, "edgeguard/origin-verify"));
        assert!(names_secret(arn, arn));
        assert!(names_secret(
            "edgeguard/origin-verify",
            "edgeguard/origin-verify"
        ));
        assert!(!names_secret(arn, "edgeguard/other"));
    }

    #[test]
    fn rotation_events_and_actions_deserialize() {
        let e: Invocation = serde_json::from_str(
            r#"{"Step":"createSecret","SecretId":"arn:x","ClientRequestToken":"t"}"#,
        )
        .unwrap();
        assert!(matches!(e, Invocation::Rotation(r) if r.step == "createSecret"));
        let a: Invocation = serde_json::from_str(r#"{"action":"prune"}"#).unwrap();
        assert!(matches!(a, Invocation::Action(Action { action }) if action == "prune"));
    }
}
