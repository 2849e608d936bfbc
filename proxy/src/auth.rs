//! The accepted-secret snapshot and the constant-time check.
//!
//! A request is accepted iff it carries exactly one field of the configured header whose
//! value equals one accepted value byte for byte. The comparison runs over every accepted
//! value without an early exit, so the time taken does not tell which value (if any)
//! matched. Only the length of a value can leak (`subtle` returns early on a length
//! difference); values are 43 characters by design, so the length is no secret.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use constant_time_eq::constant_time_eq;
use http::{HeaderMap, HeaderName};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroize;

#[cfg(test)]
mod tests;

/// A secret header value. `Debug` never shows it and there is no `Display`, so a value
/// cannot reach a log line or an error message by accident. Zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

/// Why a candidate accepted value was refused. Never carries the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error("the value is empty")]
    Empty,
    #[error("the value has a byte that is not visible ASCII or is a comma, at position {position}")]
    ForbiddenByte { position: usize },
}

impl Secret {
    /// Accepts visible ASCII (0x21..=0x7E) except the comma: what an edge can send as one
    /// field value unambiguously (API Gateway joins repeated fields with commas).
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
        Ok(Self(value.into()))
    }

    /// The raw bytes, for the comparison and for tests that must send the value.
    pub fn expose(&self) -> &[u8] {
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

/// One accepted value with its label (`line3`, `current`, …) and its match counter.
#[derive(Debug)]
pub struct AcceptedValue {
    label: Arc<str>,
    secret: Secret,
    matches: Arc<AtomicU64>,
}

impl AcceptedValue {
    pub fn new(label: Arc<str>, secret: Secret, matches: Arc<AtomicU64>) -> Self {
        Self {
            label,
            secret,
            matches,
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// Counts a request admitted by this value (metrics, by label).
    pub fn record_match(&self) {
        self.matches.fetch_add(1, Ordering::Relaxed);
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
        self.label == other.label && self.secret == other.secret
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

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The request rule: exactly one field, equal to an accepted value.
    pub fn check(&self, headers: &HeaderMap, name: &HeaderName) -> Verdict<'_> {
        let mut fields = headers.get_all(name).iter();
        let Some(value) = fields.next() else {
            return Verdict::Rejected(Rejection::Missing);
        };
        if fields.next().is_some() {
            return Verdict::Rejected(Rejection::Duplicate);
        }
        match self.find(value.as_bytes()) {
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
