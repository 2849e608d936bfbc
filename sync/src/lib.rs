//! edgeguard-sync: the rotation engine (see `../shared/DESIGN.md`, "Rotation").
//!
//! Empty for now: the rotation steps, their AWS targets, the CLI and the rotation
//! Lambda are built in their own issues on top of this crate.
