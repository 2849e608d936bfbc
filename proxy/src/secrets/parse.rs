//! Parsing the text of a file or an environment variable into labelled values.

use super::{Labeled, SourceError};
use crate::auth::Secret;

/// A file: one value per non-empty line, `#` starts a comment line. Each value is labelled
/// `line<N>` by its line number in the file, as an editor shows it.
pub fn file_values(origin: &str, text: &str) -> Result<Vec<Labeled>, SourceError> {
    let mut values = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let label = format!("line{}", i + 1);
        values.push(labeled(origin, label, "file", line)?);
    }
    non_empty(origin, values)
}

/// An environment variable: values separated by newlines or commas, labelled
/// `value<N>` in order.
pub fn env_values(origin: &str, text: &str) -> Result<Vec<Labeled>, SourceError> {
    let mut values = Vec::new();
    for part in text
        .split(['\n', ','])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let label = format!("value{}", values.len() + 1);
        values.push(labeled(origin, label, "env", part)?);
    }
    non_empty(origin, values)
}

/// `version_id` is the source kind: files and variables have no versions.
fn labeled(
    origin: &str,
    label: String,
    version_id: &str,
    value: &str,
) -> Result<Labeled, SourceError> {
    match Secret::new(value.as_bytes()) {
        Ok(secret) => Ok(Labeled {
            label,
            version_id: version_id.to_owned(),
            secret,
        }),
        Err(problem) => Err(SourceError::Invalid {
            origin: origin.to_owned(),
            position: label,
            problem,
        }),
    }
}

fn non_empty(origin: &str, values: Vec<Labeled>) -> Result<Vec<Labeled>, SourceError> {
    if values.is_empty() {
        return Err(SourceError::Empty {
            origin: origin.to_owned(),
        });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(values: &[Labeled]) -> Vec<&str> {
        values.iter().map(|v| v.label.as_str()).collect()
    }

    #[test]
    fn file_lines_skip_comments_and_blanks_and_keep_line_numbers() {
        let v = file_values("f", "# rotated 2026-11-01\n\n  aaaaaaaa  \nbbbbbbbb\n").unwrap();
        assert_eq!(labels(&v), ["line3", "line4"]);
        assert_eq!(v[0].secret.expose(), b"aaaaaaaa");
    }

    #[test]
    fn env_values_split_on_commas_and_newlines() {
        let v = env_values("env:X", "aaaa, bbbb\ncccc,,").unwrap();
        assert_eq!(labels(&v), ["value1", "value2", "value3"]);
    }

    #[test]
    fn empty_sources_are_errors() {
        assert!(matches!(
            file_values("f", "# only\n\n"),
            Err(SourceError::Empty { .. })
        ));
        assert!(matches!(
            env_values("e", " , "),
            Err(SourceError::Empty { .. })
        ));
    }

    #[test]
    fn a_bad_line_is_named_without_its_value() {
        let err = file_values("file:/x", "good-value\nbad value-SECRETISH\n").unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("line2"), "{text}");
        assert!(!text.contains("SECRETISH"), "{text}");
    }
}
