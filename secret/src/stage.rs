//! Secrets Manager's version stages, which carry the rotation's state (docs/design.md, "The secret").

pub const CURRENT: &str = "AWSCURRENT";
pub const PENDING: &str = "AWSPENDING";
pub const PREVIOUS: &str = "AWSPREVIOUS";

/// The stages whose values the acceptors take, in order of preference when one version
/// carries two of them (AWS may leave AWSPENDING on the AWSCURRENT version after a
/// rotation), with the short name used in labels and reports.
pub const ACCEPTED: [(&str, &str); 3] = [
    (CURRENT, "current"),
    (PENDING, "pending"),
    (PREVIOUS, "previous"),
];
