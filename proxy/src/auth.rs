//! The accepted-secret snapshot and the constant-time check.
//!
//! A request is accepted iff it carries exactly one field of the configured header whose
//! value equals one accepted value byte for byte. The comparison runs over every accepted
//! value without an early exit, so the time taken does not tell which value (if any)
//! matched. Only the length of a value can leak (`constant_time_eq` returns early on a
//! length difference); values are 43 characters by design, so the length is no secret.
//! `subtle` keeps the choice of the first matching value branch-free.

use std::sync::Arc;

use constant_time_eq::constant_time_eq;
use http::{HeaderMap, HeaderName};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::edge::Edge;

mod accept_counts;
#[cfg(test)]
mod tests;

pub use accept_counts::AcceptCounts;

/// The secret type and the value rule are the shared crate's: what sync writes, every
/// proxy accepts.
pub use edgeguard_secret::{InvalidValue, Secret};

/// One accepted value with its label (`line3`, `current`, …), its version id (Secrets
/// Manager's, or `file`/`env`) and its accepted-request counters.
#[derive(Debug)]
pub struct AcceptedValue {
    label: Arc<str>,
    version_id: Arc<str>,
    secret: Secret,
    counts: Arc<AcceptCounts>,
}

impl AcceptedValue {
    pub fn new(
        label: Arc<str>,
        version_id: Arc<str>,
        secret: Secret,
        counts: Arc<AcceptCounts>,
    ) -> Self {
        Self {
            label,
            version_id,
            secret,
            counts,
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn version_id(&self) -> &str {
        &self.version_id
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// Counts a request admitted by this value, by the edge that sent it.
    pub fn record_match(&self, edge: Edge) {
        self.counts.record(edge);
    }
}

/// The snapshot of accepted values that a request checks against. Never empty: an empty
/// set cannot be built, so "nothing loaded" can only mean "reject" (fail closed).
#[derive(Debug)]
pub struct AcceptedSet {
    values: Box<[AcceptedValue]>,
}

/// The result of checking a request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a> {
    Accepted(&'a AcceptedValue),
    Rejected(Rejection),
}

/// Why a request was rejected (a metrics label; no value is ever attached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No field of the header.
    Missing,
    /// Two or more fields, even if each is valid.
    Duplicate,
    /// One field whose value equals no accepted value (wrong, empty, joined, …).
    Mismatch,
}

impl Rejection {
    pub const ALL: [Rejection; 3] = [Self::Missing, Self::Duplicate, Self::Mismatch];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Duplicate => "duplicate",
            Self::Mismatch => "mismatch",
        }
    }
}

impl PartialEq for AcceptedValue {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label
            && self.version_id == other.version_id
            && self.secret == other.secret
    }
}
impl Eq for AcceptedValue {}

impl AcceptedSet {
    /// `None` when `values` is empty: there is no such thing as an empty accepted set.
    pub fn new(values: Vec<AcceptedValue>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        Some(Self {
            values: values.into_boxed_slice(),
        })
    }

    pub fn values(&self) -> &[AcceptedValue] {
        &self.values
    }

    #[expect(
        clippy::len_without_is_empty,
        reason = "a set is never empty: `new` refuses an empty list"
    )]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The request rule: exactly one field, equal to an accepted value.
    pub fn check(&self, headers: &HeaderMap, name: &HeaderName) -> Verdict<'_> {
        self.check_values(headers.get_all(name).iter().map(|v| v.as_bytes()))
    }

    /// [`AcceptedSet::check`] over the values of the header's fields, however they were
    /// found (the HTTP/1.1 fast path reads them off the wire: `h1`).
    pub fn check_values<'v>(&self, mut values: impl Iterator<Item = &'v [u8]>) -> Verdict<'_> {
        let Some(value) = values.next() else {
            return Verdict::Rejected(Rejection::Missing);
        };
        if values.next().is_some() {
            return Verdict::Rejected(Rejection::Duplicate);
        }
        match self.find(value) {
            Some(accepted) => Verdict::Accepted(accepted),
            None => Verdict::Rejected(Rejection::Mismatch),
        }
    }

    /// Compares `candidate` with every accepted value in constant time (no early exit).
    pub fn find(&self, candidate: &[u8]) -> Option<&AcceptedValue> {
        // 0 = no match; i + 1 = values[i] matched. The first match wins (a value that
        // carries two stages counts under the first: current before pending).
        let mut matched: u32 = 0;
        for (i, value) in self.values.iter().enumerate() {
            let equal = Choice::from(u8::from(constant_time_eq(value.secret.expose(), candidate)));
            let first = equal & matched.ct_eq(&0);
            matched = u32::conditional_select(&matched, &(i as u32 + 1), first);
        }
        matched.checked_sub(1).map(|i| &self.values[i as usize])
    }
}
