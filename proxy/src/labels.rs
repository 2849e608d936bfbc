//! The closed label sets of the request path that the metrics count by: which listener
//! a request came on, and what became of it. A leaf module: the gate decides them, the
//! metrics render them, and neither imports the other for them. (The rejection reasons
//! are `auth`'s, the upstream failures `forward`'s, the edges `edge`'s, the malformed
//! requests `well_formed`'s: each beside the code that decides it.)

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Requires the header (public ALB's target group).
    Enforcing,
    /// Does not (internal ALB, split-horizon DNS).
    Internal,
}

impl ListenerKind {
    pub(crate) const ALL: [Self; 2] = [Self::Enforcing, Self::Internal];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforcing => "enforcing",
            Self::Internal => "internal",
        }
    }
}

/// What the proxy did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The header matched an accepted value.
    Accepted,
    /// 403: the header was missing, repeated or wrong.
    Rejected,
    /// Forwarded without a check: a health path, or any request on the internal listener.
    Bypass,
    /// 503: no accepted set is loaded yet (fail closed).
    Unavailable,
    /// Let through by the check but not forwardable (`well_formed`): 400, 405, 501, or
    /// an HTTP/2 stream reset.
    Malformed,
    /// Report mode: forwarded although enforcing would have refused it (403 or 503).
    Reported,
}

impl Outcome {
    pub(crate) const ALL: [Self; 6] = [
        Self::Accepted,
        Self::Rejected,
        Self::Bypass,
        Self::Unavailable,
        Self::Malformed,
        Self::Reported,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Bypass => "bypass",
            Self::Unavailable => "unavailable",
            Self::Malformed => "malformed",
            Self::Reported => "reported",
        }
    }
}
