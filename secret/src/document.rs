//! The SecretString of a Secrets Manager version: `{"header":"x-origin-verify","value":"…"}`
//! or a plain string (the value itself). Surrounding white space is ignored, in the text
//! and in the document's value (a value put with a trailing newline is the same value).

use serde::Deserialize;

use crate::header;
use crate::value::{InvalidValue, Secret};

/// Why a SecretString cannot be used. Never carries the value.
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
    /// A version with SecretBinary only: neither program reads binary secrets.
    #[error("the version has no SecretString (binary secrets are not supported)")]
    NoString,
}

#[derive(Deserialize)]
struct Document {
    header: Option<String>,
    value: String,
}

/// Parses a SecretString for `configured` (the header enforced and injected).
pub fn parse(text: &str, configured: &str) -> Result<Secret, DocumentProblem> {
    let text = text.trim();
    if !text.starts_with('{') {
        return Ok(Secret::new(text.as_bytes())?);
    }
    // serde_json's messages quote no input, but none is passed on anyway.
    let doc: Document = serde_json::from_str(text).map_err(|_| DocumentProblem::NotADocument)?;
    if let Some(found) = doc.header {
        if !header::same(found.trim(), configured) {
            return Err(DocumentProblem::OtherHeader {
                found,
                configured: configured.to_owned(),
            });
        }
    }
    Ok(Secret::new(doc.value.trim().as_bytes())?)
}

/// The SecretString written for a new version.
pub fn render(secret: &Secret, header: &str) -> String {
    serde_json::json!({ "header": header, "value": secret.expose_str() }).to_string()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const V: &str = "kq3Zr0c1T9xW5yPp8N2bVfLmHs7Ud4Ea6GoJiRtYeQw";
    const H: &str = "x-origin-verify";

    #[test]
    fn documents_and_plain_strings() {
        let doc = format!(r#"{{"header":"x-origin-verify","value":"{V}"}}"#);
        assert_eq!(parse(&doc, H).unwrap().expose(), V.as_bytes());
        let upper = format!(r#"{{"header":"X-Origin-Verify","value":"{V}"}}"#);
        assert!(parse(&upper, H).is_ok());
        assert!(parse(&format!(r#"{{"value":"{V}"}}"#), H).is_ok());
        assert_eq!(parse(&format!("{V}\n"), H).unwrap().expose(), V.as_bytes());
    }

    #[test]
    fn problems_are_named_without_the_value() {
        let other = format!(r#"{{"header":"x-other","value":"{V}"}}"#);
        assert!(matches!(
            parse(&other, H),
            Err(DocumentProblem::OtherHeader { .. })
        ));
        for bad in [
            format!(r#"{{"value":"{V}""#),
            format!(r#"{{"secret":"{V}"}}"#),
        ] {
            let e = parse(&bad, H).unwrap_err();
            assert_eq!(e, DocumentProblem::NotADocument);
            assert!(!format!("{e} {e:?}").contains(V));
        }
        // What sync used to write into every target while every proxy skipped it.
        assert!(matches!(
            parse(r#"{"value":"a b"}"#, H),
            Err(DocumentProblem::Invalid(_))
        ));
    }

    proptest! {
        #[test]
        fn what_is_rendered_parses_back_to_the_same_value(bytes in proptest::collection::vec(0x21u8..=0x7e, 1..64)) {
            prop_assume!(!bytes.contains(&b','));
            let secret = Secret::new(&bytes).unwrap();
            prop_assert_eq!(parse(&render(&secret, H), H).unwrap(), secret);
        }

        #[test]
        fn parse_never_panics_and_every_value_obeys_the_rule(text in ".{0,80}") {
            if let Ok(secret) = parse(&text, H) {
                prop_assert!(Secret::new(secret.expose()).is_ok());
            }
        }
    }
}
