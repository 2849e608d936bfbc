//! The SecretString of a Secrets Manager version: `{"header":"x-origin-verify","value":"…"}`
//! or a plain string (the value itself).

use serde::Deserialize;

use crate::auth::{InvalidValue, Secret};

/// Why a version's SecretString cannot be used. Never carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentProblem {
    #[error(
        "the SecretString looks like JSON but is not the document {{\"header\":…,\"value\":…}}"
    )]
    NotADocument,
    #[error("the document is for header \"{found}\", not the configured \"{configured}\"")]
    OtherHeader { found: String, configured: String },
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    #[error("the version has no SecretString (binary secrets are not supported)")]
    NoString,
}

#[derive(Deserialize)]
struct Document {
    header: Option<String>,
    value: String,
}

/// Parses a SecretString for `configured` (the header the proxy enforces).
pub fn parse(text: &str, configured: &str) -> Result<Secret, DocumentProblem> {
    let text = text.trim();
    if !text.starts_with('{') {
        return Ok(Secret::new(text.as_bytes())?);
    }
    // serde_json's messages quote no input, but none is passed on anyway.
    let doc: Document = serde_json::from_str(text).map_err(|_| DocumentProblem::NotADocument)?;
    if let Some(found) = doc.header {
        if !found.trim().eq_ignore_ascii_case(configured) {
            return Err(DocumentProblem::OtherHeader {
                found,
                configured: configured.to_owned(),
            });
        }
    }
    Ok(Secret::new(doc.value.trim().as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "kq3Zr0c1T9xW5yPp8N2bVfLmHs7Ud4Ea6GoJiRtYeQw";

    #[test]
    fn documents_and_plain_strings() {
        let doc = format!(r#"{{"header":"x-origin-verify","value":"{V}"}}"#);
        assert_eq!(
            parse(&doc, "x-origin-verify").unwrap().expose(),
            V.as_bytes()
        );
        let upper = format!(r#"{{"header":"X-Origin-Verify","value":"{V}"}}"#);
        assert!(parse(&upper, "x-origin-verify").is_ok());
        let no_header = format!(r#"{{"value":"{V}"}}"#);
        assert!(parse(&no_header, "x-origin-verify").is_ok());
        assert_eq!(
            parse(&format!("{V}\n"), "x-origin-verify")
                .unwrap()
                .expose(),
            V.as_bytes()
        );
    }

    #[test]
    fn problems_are_named_without_the_value() {
        let other = format!(r#"{{"header":"x-other","value":"{V}"}}"#);
        let e = parse(&other, "x-origin-verify").unwrap_err();
        assert!(matches!(e, DocumentProblem::OtherHeader { .. }));
        for bad in [
            format!(r#"{{"value":"{V}""#),
            format!(r#"{{"secret":"{V}"}}"#),
        ] {
            let e = parse(&bad, "x-origin-verify").unwrap_err();
            assert_eq!(e, DocumentProblem::NotADocument);
            assert!(!format!("{e} {e:?}").contains(V));
        }
        let spaced = r#"{"value":"has a space"}"#;
        assert!(matches!(
            parse(spaced, "x-origin-verify"),
            Err(DocumentProblem::Invalid(_))
        ));
    }
}
