//! Secret values: generated from the OS CSPRNG, never shown.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use zeroize::Zeroize;

/// A header value. `Debug` is redacted and there is no `Display`, so a value cannot reach
/// a log line, an error message or `--json` output by accident. Zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Why a SecretString cannot be read. Never carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("the SecretString is not the document {{\"header\":…,\"value\":…}} nor a plain value")]
    Unreadable,
    #[error("the document is for header \"{found}\", not \"{configured}\"")]
    OtherHeader { found: String, configured: String },
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

#[derive(Deserialize)]
struct Document {
    header: Option<String>,
    value: String,
}

impl SecretValue {
    /// 256 bits from the OS CSPRNG, base64url without padding: 43 characters.
    pub fn generate() -> Result<Self, ValueError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| ValueError::Random(e.to_string()))?;
        let value = URL_SAFE_NO_PAD.encode(bytes);
        bytes.zeroize();
        Ok(Self(value))
    }

    /// Wraps a value read from a target (WAF rule, stage variable, origin header …).
    pub fn from_target(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads a SecretString: the JSON document or a plain value.
    pub fn from_secret_string(text: &str, header: &str) -> Result<Self, ValueError> {
        let text = text.trim();
        if !text.starts_with('{') {
            if text.is_empty() || text.contains([' ', ',', '\n']) {
                return Err(ValueError::Unreadable);
            }
            return Ok(Self(text.to_owned()));
        }
        let doc: Document = serde_json::from_str(text).map_err(|_| ValueError::Unreadable)?;
        if let Some(found) = doc.header {
            if !found.eq_ignore_ascii_case(header) {
                return Err(ValueError::OtherHeader {
                    found,
                    configured: header.to_owned(),
                });
            }
        }
        Ok(Self(doc.value))
    }

    /// The SecretString written for a new version.
    pub fn to_secret_string(&self, header: &str) -> String {
        serde_json::json!({ "header": header, "value": self.0 }).to_string()
    }

    /// The value itself, for the one place that must write it to a target.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_are_43_base64url_characters_and_differ() {
        let a = SecretValue::generate().unwrap();
        let b = SecretValue::generate().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn the_document_round_trips_and_debug_hides_the_value() {
        let v = SecretValue::generate().unwrap();
        let text = v.to_secret_string("x-origin-verify");
        assert_eq!(
            SecretValue::from_secret_string(&text, "x-origin-verify").unwrap(),
            v
        );
        assert!(matches!(
            SecretValue::from_secret_string(&text, "x-other"),
            Err(ValueError::OtherHeader { .. })
        ));
        assert!(!format!("{v:?}").contains(v.expose()));
    }
}
