//! A secret header value and the rule every value obeys.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroize;

/// A header value that passed [`Secret::new`]. `Debug` never shows it and there is no
/// `Display`, so a value cannot reach a log line, an error message or `--json` output by
/// accident. Zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

/// Why a candidate value was refused. Never carries the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error("the value is empty")]
    Empty,
    #[error("the value has a byte that is not visible ASCII or is a comma, at position {position}")]
    ForbiddenByte { position: usize },
}

/// The operating system's random source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(String);

impl Secret {
    /// The value rule: visible ASCII (0x21..=0x7E) except the comma. That is what an edge
    /// sends as one field value unambiguously (API Gateway joins repeated fields with
    /// commas; an ALB and CloudFront pass visible ASCII unchanged).
    pub fn new(value: &[u8]) -> Result<Self, InvalidValue> {
        if value.is_empty() {
            return Err(InvalidValue::Empty);
        }
        if let Some(position) = value
            .iter()
            .position(|b| !(0x21..=0x7e).contains(b) || *b == b',')
        {
            return Err(InvalidValue::ForbiddenByte { position });
        }
        // Visible ASCII is UTF-8; the error arm cannot be taken.
        let text = std::str::from_utf8(value).map_err(|e| InvalidValue::ForbiddenByte {
            position: e.valid_up_to(),
        })?;
        Ok(Self(text.into()))
    }

    /// 256 bits from the OS CSPRNG, base64url without padding: 43 characters.
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
        let value = URL_SAFE_NO_PAD.encode(bytes);
        bytes.zeroize();
        Ok(Self(value.into()))
    }

    /// The raw bytes: for the constant-time comparison and the places that must write
    /// the value to a target.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The value as text (always ASCII), for SDK calls that take a string.
    pub fn expose_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Keeps freed heap memory from holding the value after a swap drops it.
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_are_43_base64url_characters_that_pass_the_rule() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert!(Secret::new(a.expose()).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn the_rule_refuses_what_an_edge_cannot_send_as_one_field() {
        assert_eq!(Secret::new(b""), Err(InvalidValue::Empty));
        for (bad, at) in [
            (&b"a b"[..], 1),
            (b"a,b", 1),
            (b"\tab", 0),
            (b"ab\x7f", 2),
            ("é".as_bytes(), 0),
        ] {
            assert_eq!(
                Secret::new(bad),
                Err(InvalidValue::ForbiddenByte { position: at })
            );
        }
        assert!(Secret::new(b"!~\"'").is_ok());
    }

    #[test]
    fn debug_hides_the_value() {
        let v = Secret::new(b"SECRETISH-VALUE").unwrap();
        assert_eq!(format!("{v:?}"), "Secret(<redacted>)");
    }
}
