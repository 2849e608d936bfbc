//! edgeguard-sync: rotates the edge's shared secret with a dual-accept window, so that no
//! valid request is ever rejected (docs/design.md, "Rotation").
//!
//! The steps live in [`rotation`] and act only through the traits of [`store`] and
//! [`targets`]; the CLI and the rotation Lambda are thin shells over them.

pub mod aws;
pub mod config;
pub mod discover;
pub mod drill;
pub mod error;
pub mod evidence;
pub mod guard;
pub mod init;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod lock;
pub mod logging;
pub mod origin;
pub mod probe;
pub mod progress;
pub mod rotation;
pub mod status;
pub mod store;
pub mod targets;
pub mod value;
