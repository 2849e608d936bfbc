//! `secretsmanager:ID`: the accepted set follows the secret's version stages.
//!
//! Each read: `DescribeSecret` for `VersionIdsToStages`, then `GetSecretValue` only for
//! version ids not fetched before (a version's value never changes). The set is
//! {AWSCURRENT, AWSPENDING if present, AWSPREVIOUS if present}, labelled `current`,
//! `pending`, `previous`: the proxies accept a pending value as soon as it exists, which is
//! what lets the rotation switch injectors without a rejected request.
//!
//! API calls per read: 1 DescribeSecret, plus 1 GetSecretValue per new version (3 per
//! rotation). See the README for the cost of a fleet.

use std::collections::HashMap;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

use super::{Labeled, Source, SourceError};
use crate::auth::Secret;
use edgeguard_secret::document::{self, DocumentProblem};
use edgeguard_secret::stage;

/// The stages accepted, in order of preference when a value carries two of them.
const STAGES: [(&str, &str); 3] = stage::ACCEPTED;

/// A fetched version: its value, or why it cannot be used (reported once, when fetched).
#[derive(Debug)]
pub enum Fetched {
    Value(Secret),
    Unusable,
    /// Registered without a value yet: Secrets Manager attaches AWSPENDING to the new
    /// version id before the rotation function's createSecret stores the value. Not
    /// cached, so the value is read once it is there.
    NotYet,
}

#[derive(Debug)]
pub struct SecretsManagerSource {
    client: Client,
    secret_id: String,
    header: String,
    description: String,
    /// By version id; only the versions in the set are kept.
    cache: HashMap<String, Fetched>,
}

impl SecretsManagerSource {
    /// `header` is the header the proxy enforces: a document for another one is refused.
    pub fn new(client: Client, secret_id: &str, header: &str) -> Self {
        Self {
            client,
            secret_id: secret_id.to_owned(),
            header: header.to_owned(),
            description: format!("secretsmanager:{secret_id}"),
            cache: HashMap::new(),
        }
    }

    fn aws_error<E: std::error::Error>(&self, operation: &'static str, e: E) -> SourceError {
        SourceError::Aws {
            origin: self.description.clone(),
            operation,
            message: DisplayErrorContext(e).to_string(),
        }
    }

    async fn fetch(&self, version_id: &str) -> Result<Fetched, SourceError> {
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
                return Ok(Fetched::NotYet);
            }
            Err(e) => return Err(self.aws_error("GetSecretValue", e)),
        };
        match classify(
            out.secret_string(),
            out.secret_binary().is_some(),
            &self.header,
        ) {
            Ok(fetched) => Ok(fetched),
            // A document for another header is a configuration error: refuse the read
            // (the set in force stays) rather than skip it quietly.
            Err(problem @ DocumentProblem::OtherHeader { .. }) => Err(SourceError::Version {
                origin: self.description.clone(),
                version: version_id.to_owned(),
                problem,
            }),
            Err(problem) => {
                tracing::warn!(
                    source = %self.description,
                    version = version_id,
                    %problem,
                    "skipping a secret version that cannot be used"
                );
                Ok(Fetched::Unusable)
            }
        }
    }
}

impl Source for SecretsManagerSource {
    fn describe(&self) -> &str {
        &self.description
    }

    async fn load(&mut self) -> Result<Vec<Labeled>, SourceError> {
        let described = self
            .client
            .describe_secret()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| self.aws_error("DescribeSecret", e))?;
        if described.deleted_date().is_some() {
            return Err(SourceError::Aws {
                origin: self.description.clone(),
                operation: "DescribeSecret",
                message: "the secret is scheduled for deletion".into(),
            });
        }
        let stages = described
            .version_ids_to_stages()
            .cloned()
            .unwrap_or_default();
        let wanted: Vec<(&str, &String)> = STAGES
            .iter()
            .filter_map(|(stage, label)| {
                let (version, _) = stages.iter().find(|(_, s)| s.iter().any(|x| x == stage))?;
                Some((*label, version))
            })
            .collect();
        for (_, version) in &wanted {
            if !self.cache.contains_key(*version) {
                match self.fetch(version).await? {
                    Fetched::NotYet => {}
                    fetched => {
                        self.cache.insert((*version).clone(), fetched);
                    }
                }
            }
        }
        self.cache
            .retain(|id, _| wanted.iter().any(|(_, v)| *v == id));
        let values: Vec<Labeled> = wanted
            .iter()
            .filter_map(|(label, version)| match self.cache.get(*version) {
                Some(Fetched::Value(secret)) => Some(Labeled {
                    label: (*label).to_owned(),
                    version_id: (*version).clone(),
                    secret: secret.clone(),
                }),
                _ => None,
            })
            .collect();
        if values.is_empty() {
            return Err(SourceError::Empty {
                origin: format!(
                    "{} (no AWSCURRENT, AWSPENDING or AWSPREVIOUS version with a usable value)",
                    self.description
                ),
            });
        }
        Ok(values)
    }
}

/// What a version's GetSecretValue answer means to the proxy: a value to accept, nothing
/// yet, or why it cannot be used (the shared parser's verdict, so sync agrees).
pub fn classify(
    secret_string: Option<&str>,
    binary: bool,
    header: &str,
) -> Result<Fetched, DocumentProblem> {
    match (secret_string, binary) {
        (Some(text), _) => document::parse(text, header).map(Fetched::Value),
        (None, false) => Ok(Fetched::NotYet),
        (None, true) => Err(DocumentProblem::NoString),
    }
}

/// The region named by a Secrets Manager ARN (`arn:aws:secretsmanager:REGION:…`), used
/// when the environment names none.
pub fn arn_region(secret_id: &str) -> Option<&str> {
    let mut parts = secret_id.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("secretsmanager"), Some(region)) if !region.is_empty() => {
            Some(region)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_an_arn() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:edgeguard/origin-AbCdEf";
        assert_eq!(arn_region(arn), Some("eu-west-1"));
        assert_eq!(arn_region("edgeguard/origin"), None);
    }

    mod mocked {
        //! Call counts, which the emulator does not expose: the SDK's own test doubles.
        use std::collections::HashMap;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
        use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
        use aws_smithy_mocks::{RuleMode, mock, mock_client};

        use super::super::*;

        fn stages(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
            pairs
                .iter()
                .map(|(v, s)| (v.to_string(), vec![s.to_string()]))
                .collect()
        }

        #[tokio::test]
        async fn a_version_is_fetched_once_however_often_the_stages_are_read() {
            // Reads 1-2: v1 current. Reads 3-4: v2 pending appears. Read 5: v2 current, v1 previous.
            let reads = Arc::new(AtomicUsize::new(0));
            let counter = reads.clone();
            let describe = mock!(Client::describe_secret).then_compute_output(move |_| {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let map = match n {
                    0 | 1 => stages(&[("v1", "AWSCURRENT")]),
                    2 | 3 => stages(&[("v1", "AWSCURRENT"), ("v2", "AWSPENDING")]),
                    _ => stages(&[("v2", "AWSCURRENT"), ("v1", "AWSPREVIOUS")]),
                };
                DescribeSecretOutput::builder()
                    .set_version_ids_to_stages(Some(map))
                    .build()
            });
            let get = mock!(Client::get_secret_value).then_compute_output(|req| {
                let value = format!(
                    "value-of-{}-0123456789abcdef",
                    req.version_id().unwrap_or_default()
                );
                GetSecretValueOutput::builder().secret_string(value).build()
            });
            let client = mock_client!(
                aws_sdk_secretsmanager,
                RuleMode::MatchAny,
                [&describe, &get]
            );
            let mut source =
                SecretsManagerSource::new(client, "edgeguard/origin-verify", "x-origin-verify");
            let mut labels = Vec::new();
            for _ in 0..5 {
                let values = source.load().await.unwrap();
                labels.push(
                    values
                        .iter()
                        .map(|v| v.label.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                );
            }
            assert_eq!(describe.num_calls(), 5, "one DescribeSecret per read");
            assert_eq!(
                get.num_calls(),
                2,
                "one GetSecretValue per version id, ever"
            );
            assert_eq!(
                labels,
                [
                    "current",
                    "current",
                    "current,pending",
                    "current,pending",
                    "current,previous"
                ]
            );
        }
    }
}
