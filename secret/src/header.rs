//! The header-name rule: what an ALB forwards.
//!
//! An ALB with `routing.http.drop_invalid_header_fields.enabled` drops header names that
//! are not `[-A-Za-z0-9]+` (an underscore included), so a secret header with any other
//! name would be removed before the proxy saw it: every request rejected. Names compare
//! case-insensitively (HTTP); both programs keep the lowercase form.

/// The header both programs use unless told otherwise (the proxy's `--header`, sync's
/// `header`).
pub const DEFAULT: &str = "x-origin-verify";

/// Why a header name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    #[error("the header name is empty")]
    Empty,
    #[error("\"{0}\" is not a header name an ALB forwards: use letters, digits and '-' only")]
    Forbidden(String),
}

/// The lowercase form of `name`, if it obeys the rule.
pub fn name(name: &str) -> Result<String, InvalidName> {
    if name.is_empty() {
        return Err(InvalidName::Empty);
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(InvalidName::Forbidden(name.to_owned()));
    }
    Ok(name.to_ascii_lowercase())
}

/// Whether `a` and `b` name the same header.
pub fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_an_alb_forwards() {
        assert_eq!(name("X-Origin-Verify").unwrap(), "x-origin-verify");
        assert_eq!(name("x9").unwrap(), "x9");
        for bad in ["x_origin", "x origin", "x:y", "é", "x.y"] {
            assert!(matches!(name(bad), Err(InvalidName::Forbidden(_))), "{bad}");
        }
        assert_eq!(name(""), Err(InvalidName::Empty));
        assert!(same("X-A", "x-a"));
    }
}
