//! What a rotation reports as it goes, and the phases it goes through: the CLI prints
//! it, the Lambda logs it, the drill counts its requests by phase. Its own module so that
//! the targets (which report their waits) and the rotation do not import each other.

use std::time::Duration;

/// What a rotation reports as it goes (the CLI prints it; the Lambda logs it).
pub trait Progress: Send + Sync {
    fn step(&self, _message: &str) {}
    /// A wait of `total`, before it starts.
    fn waiting(&self, _what: &str, _total: Duration) {}
    /// The rotation enters `phase` (the drill counts its requests by phase).
    fn phase(&self, _phase: Phase) {}
    /// The evidence a prune read (each time it reads it).
    fn evidence(&self, _report: &crate::evidence::Report) {}
}

/// The parts of a rotation, in order, as the drill reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Before the rotation's first write.
    Before,
    Create,
    Widen,
    Settle,
    Switch,
    Test,
    Finish,
    Window,
    Prune,
    /// After the rotation ended (or failed).
    After,
}

impl Phase {
    pub const ALL: [Phase; 10] = [
        Phase::Before,
        Phase::Create,
        Phase::Widen,
        Phase::Settle,
        Phase::Switch,
        Phase::Test,
        Phase::Finish,
        Phase::Window,
        Phase::Prune,
        Phase::After,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::Create => "create",
            Phase::Widen => "widen",
            Phase::Settle => "settle",
            Phase::Switch => "switch",
            Phase::Test => "test",
            Phase::Finish => "finish",
            Phase::Window => "window",
            Phase::Prune => "prune",
            Phase::After => "after",
        }
    }
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct Quiet;
impl Progress for Quiet {}
