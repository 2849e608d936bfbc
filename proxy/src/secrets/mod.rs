//! Where accepted values come from, and the refresher that swaps them in.
//!
//! A [`Source`] returns the complete list of accepted values each time it is read; the
//! [`refresher`] compares it with the snapshot in force and swaps only on a change. A
//! source that fails keeps the snapshot in force (a failed refresh loses nothing).
//! Secrets Manager (`secretsmanager`) labels values by stage and caches them per version.

use std::future::Future;
use std::path::PathBuf;

use crate::auth::{InvalidValue, Secret};
use edgeguard_secret::document::DocumentProblem;

pub mod env;
pub mod file;
pub mod parse;
pub mod refresher;
pub mod secretsmanager;

/// An accepted value, its label and its version: where it came from, never what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labeled {
    pub label: String,
    /// The Secrets Manager version id; `file` or `env` for those sources (they have no
    /// versions).
    pub version_id: String,
    pub secret: Secret,
}

/// A place accepted values are read from.
pub trait Source: Send + 'static {
    /// A description for logs, such as `file:/run/secrets/origin`. Never a value.
    fn describe(&self) -> &str;

    /// Reads the complete list of accepted values. An `Ok` list is never empty.
    fn load(&mut self) -> impl Future<Output = Result<Vec<Labeled>, SourceError>> + Send;
}

/// A failed read. Messages name the place and the position, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("environment variable {var} is not set")]
    MissingVar { var: String },
    #[error("{origin} holds no accepted value")]
    Empty { origin: String },
    #[error("{origin}: {operation} failed: {message}")]
    Aws {
        origin: String,
        operation: &'static str,
        message: String,
    },
    #[error("{origin}, version {version}: {problem}")]
    Version {
        origin: String,
        version: String,
        #[source]
        problem: DocumentProblem,
    },
    #[error("{origin}, {position}: {problem}")]
    Invalid {
        origin: String,
        position: String,
        #[source]
        problem: InvalidValue,
    },
}
