//! Values: the secret (the shared crate's type, validated by the rule every proxy
//! applies) and what a target was found to hold (not validated: it may have been edited
//! by hand). Only a [`Secret`] can be written to a target, so a value the proxies would
//! skip never is.

use std::fmt;

use zeroize::Zeroize;

pub use edgeguard_secret::Secret;

/// A value read from a target (a WAF rule, a stage variable, an integration, an origin).
/// Compared with the staged [`Secret`]s to say which stage a target holds; never written
/// back, never shown. Zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct TargetValue(Box<[u8]>);

impl TargetValue {
    pub fn new(value: impl AsRef<[u8]>) -> Self {
        Self(value.as_ref().into())
    }

    /// Whether the target holds exactly `secret`.
    pub fn is(&self, secret: &Secret) -> bool {
        *self.0 == *secret.expose()
    }
}

impl From<&Secret> for TargetValue {
    fn from(secret: &Secret) -> Self {
        Self::new(secret.expose())
    }
}

impl fmt::Debug for TargetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TargetValue(<redacted>)")
    }
}

impl Drop for TargetValue {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Whether `held` is exactly the set `wanted` (order and repeats aside).
pub fn same_set(held: &[TargetValue], wanted: &[Secret]) -> bool {
    held.iter().all(|h| wanted.iter().any(|w| h.is(w)))
        && wanted.iter().all(|w| held.iter().any(|h| h.is(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_values_compare_with_secrets_and_hide_themselves() {
        let s = Secret::generate().unwrap();
        let t = TargetValue::from(&s);
        assert!(t.is(&s));
        assert!(!TargetValue::new("a b").is(&s));
        assert!(!format!("{t:?}").contains(s.expose_str()));
        assert!(same_set(&[t.clone(), t], std::slice::from_ref(&s)));
    }
}
