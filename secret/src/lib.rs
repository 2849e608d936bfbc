//! The shared secret, defined once for both programs (docs/design.md, "The secret").
//!
//! `edgeguard-sync` writes what this crate parses and `edgeguard-proxy` accepts what it
//! parses, so *what sync writes, every proxy accepts* holds by construction: there is one
//! [`document::parse`], one value rule ([`Secret::new`]), one header-name rule
//! ([`header::name`]), one list of [`stage`]s, and one definition of the embedded metric
//! the proxies write and sync's evidence gate reads ([`metrics`]).

pub mod document;
pub mod header;
pub mod metrics;
pub mod stage;
mod value;

pub use value::{InvalidValue, RandomError, Secret};
