//! The shared secret, defined once for both programs (DESIGN.md, "The secret").
//!
//! `edgeguard-sync` writes what this crate parses and `edgeguard-proxy` accepts what it
//! parses, so *what sync writes, every proxy accepts* holds by construction: there is one
//! [`document::parse`], one value rule ([`Secret::new`]), one header-name rule
//! ([`header::name`]) and one list of [`stage`]s.

pub mod document;
pub mod header;
pub mod stage;
mod value;

pub use value::{InvalidValue, RandomError, Secret};
