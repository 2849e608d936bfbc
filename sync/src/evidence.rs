//! The evidence gate: narrow the acceptors only when the fleet's own counts show that
//! nobody still sends AWSPREVIOUS, and that the fleet reports now.
//!
//! The proxies write `AcceptedRequests` per Secrets Manager version id (and per edge) as
//! CloudWatch embedded metrics (docs/proxy.md, "Embedded metrics"; the names are the shared
//! crate's `metrics` contract). A [`Witness`] reads the per-minute sums back from one
//! source (a namespace in a region, perhaps another account's); [`judge`] decides per
//! source, and prune needs every source quiet. A timer (the dual-accept window) cannot see
//! an injector the configuration forgot; the requests can.
//!
//! What CloudWatch really returns ("GetMetricData", Amazon CloudWatch API Reference):
//! - each query answers with a `StatusCode`; only `Complete` is an answer. `PartialData`
//!   (more pages), `InternalError` and `Forbidden` are "cannot prove", never quiet;
//! - `StartTime` is rounded down to the minute and `EndTime` is exclusive, so the
//!   [`Window`] is asked for in whole minutes, ending after the current one;
//! - a record becomes a metric some time after it is written: the newest
//!   `emf_interval + ingestion_margin` of any window are blind. A request there that does
//!   show still blocks; silence there proves nothing;
//! - silence is not proof: AWSCURRENT must show requests in the newest part CloudWatch can
//!   have ingested (fresh), or the fleet may have stopped reporting.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

pub use edgeguard_secret::metrics::{ACCEPTED_METRIC as METRIC, EDGES, NOT_A_VERSION};

use crate::config::Evidence;
use crate::error::SyncError;

mod cloudwatch;
#[cfg(test)]
mod tests;

pub use cloudwatch::CloudWatchWitness;

/// The query period: one datapoint a minute (standard resolution), so the newest minute
/// with a request can be told.
pub const PERIOD: Duration = Duration::from_secs(60);

/// What one read asks CloudWatch for: requests in [`from`, `to`) (whole minutes), and
/// from when AWSCURRENT's newest request counts as fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: SystemTime,
    pub to: SystemTime,
    pub fresh_since: SystemTime,
    pub now: SystemTime,
}

impl Window {
    /// The window read at `now`: the quiet period and the blind part before now, from the
    /// start of its first minute to the end of the current one (EndTime is exclusive).
    pub fn at(settings: &Evidence, now: SystemTime) -> Self {
        let back = |d: Duration| now.checked_sub(d).unwrap_or(UNIX_EPOCH);
        Self {
            from: floor_minute(back(settings.blind() + settings.quiet_period)),
            to: floor_minute(now) + PERIOD,
            fresh_since: floor_minute(back(settings.blind() + settings.fresh_span())),
            now,
        }
    }

    pub fn span(&self) -> Duration {
        self.to.duration_since(self.from).unwrap_or_default()
    }
}

/// `t` rounded down to its minute, as CloudWatch rounds StartTime.
pub fn floor_minute(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    UNIX_EPOCH + Duration::from_secs(secs / 60 * 60)
}

/// Accepted requests of one version in a window, in all and per edge seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VersionCount {
    pub version_id: String,
    pub total: u64,
    /// Only edges with requests, in [`EDGES`] order.
    pub by_edge: Vec<(String, u64)>,
    /// The start of the newest minute with a request, in seconds since the epoch.
    pub newest: Option<u64>,
}

impl VersionCount {
    pub fn none(version_id: &str) -> Self {
        Self {
            version_id: version_id.to_owned(),
            ..Self::default()
        }
    }

    fn edges(&self) -> String {
        if self.by_edge.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self
            .by_edge
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect();
        format!(" ({})", parts.join(", "))
    }

    fn newest_time(&self) -> Option<SystemTime> {
        self.newest.map(|s| UNIX_EPOCH + Duration::from_secs(s))
    }
}

/// Reads accepted-request counts from one source.
#[async_trait]
pub trait Witness: Send + Sync {
    /// Where it reads, for messages (`cloudwatch eu-west-1 edgeguard/prod`).
    fn source(&self) -> &str;
    /// Per version id: the requests accepted in `window` (`from` to `to`).
    async fn accepted(
        &self,
        version_ids: &[&str],
        window: &Window,
    ) -> Result<Vec<VersionCount>, SyncError>;
}

/// What one source's counts say about narrowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// AWSPREVIOUS unused and AWSCURRENT in use up to the newest part: safe to narrow.
    Quiet,
    /// Requests still carry AWSPREVIOUS.
    PreviousInUse,
    /// No request carried AWSCURRENT: no proof that the fleet reports at all.
    NoReports,
    /// AWSCURRENT's requests stop before the newest part CloudWatch can show: the fleet
    /// (or its traffic) stopped reporting, and its silence about AWSPREVIOUS proves nothing.
    Stale,
}

/// The decision for one source: refuse while AWSPREVIOUS has any accepted request, or
/// while AWSCURRENT has none, or none recent enough; otherwise quiet. A request carrying
/// AWSPREVIOUS outweighs the rest (it names the sender to fix).
pub fn judge(current: &VersionCount, previous: Option<&VersionCount>, window: &Window) -> Verdict {
    if previous.is_some_and(|p| p.total > 0) {
        Verdict::PreviousInUse
    } else if current.total == 0 {
        Verdict::NoReports
    } else if current.newest_time().is_none_or(|t| t < window.fresh_since) {
        Verdict::Stale
    } else {
        Verdict::Quiet
    }
}

/// What one source showed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceReport {
    pub source: String,
    pub current: VersionCount,
    pub previous: Option<VersionCount>,
    /// Requests counted under `VersionId` `env` or `file` (proxies that do not read
    /// Secrets Manager), only those with any.
    pub unversioned: Vec<VersionCount>,
    pub verdict: Verdict,
}

/// The counts a prune saw, per source, and what they mean.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// The quiet period.
    pub period_secs: u64,
    /// The newest part of the window CloudWatch may not show yet.
    pub blind_secs: u64,
    /// How recent AWSCURRENT's newest request must be (before the blind part).
    pub fresh_secs: u64,
    /// When it was read, in seconds since the epoch.
    pub read_at: u64,
    pub sources: Vec<SourceReport>,
}

impl SourceReport {
    /// Judges one source's counts for AWSCURRENT `current` and AWSPREVIOUS `previous`
    /// (any other ids among `counts`, `env` and `file`, are the unversioned ones).
    pub fn new(
        source: &str,
        counts: &[VersionCount],
        current: &str,
        previous: Option<&str>,
        window: &Window,
    ) -> Self {
        let find = |id: &str| {
            counts
                .iter()
                .find(|c| c.version_id == id)
                .cloned()
                .unwrap_or_else(|| VersionCount::none(id))
        };
        let current = find(current);
        let previous = previous.map(find);
        let unversioned = NOT_A_VERSION
            .iter()
            .map(|id| find(id))
            .filter(|c| c.total > 0)
            .collect();
        Self {
            source: source.to_owned(),
            verdict: judge(&current, previous.as_ref(), window),
            current,
            previous,
            unversioned,
        }
    }
}

impl Report {
    pub fn new(settings: &Evidence, window: &Window, sources: Vec<SourceReport>) -> Self {
        Self {
            period_secs: settings.quiet_period.as_secs(),
            blind_secs: settings.blind().as_secs(),
            fresh_secs: settings.fresh_span().as_secs(),
            read_at: window
                .now
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            sources,
        }
    }

    /// Every source quiet (and there is at least one).
    pub fn quiet(&self) -> bool {
        !self.sources.is_empty() && self.sources.iter().all(|s| s.verdict == Verdict::Quiet)
    }
}

fn human(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

impl fmt::Display for Report {
    /// One line: per source the counts, then (unless quiet) why narrowing would reject
    /// requests or cannot be proven safe, and what to do.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "evidence over the last {} (the quiet period, and the newest {} that CloudWatch may not show yet)",
            human(self.period_secs + self.blind_secs),
            human(self.blind_secs)
        )?;
        for s in &self.sources {
            write!(
                f,
                "; {}: AWSCURRENT {} accepted {}{}",
                s.source,
                s.current.version_id,
                s.current.total,
                s.current.edges()
            )?;
            if let Some(p) = &s.previous {
                write!(
                    f,
                    ", AWSPREVIOUS {} accepted {}{}",
                    p.version_id,
                    p.total,
                    p.edges()
                )?;
            }
            s.explain(self, f)?;
        }
        Ok(())
    }
}

impl SourceReport {
    fn explain(&self, report: &Report, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.verdict {
            Verdict::Quiet => write!(f, ": quiet"),
            Verdict::PreviousInUse => write!(
                f,
                ": AWSPREVIOUS still in use, so narrowing would reject those requests. Find \
                 the sender (the edges above; an injector missing from the configuration, a \
                 stage whose deployment did not take, a client that copied the header), \
                 point it at AWSCURRENT, and prune once {} pass without such a request \
                 (`prune --ignore-evidence` narrows anyway)",
                human(report.period_secs)
            ),
            Verdict::NoReports => {
                write!(
                    f,
                    ": no request carried AWSCURRENT, so there is no proof that the proxies \
                     report at all. Check that they run with --emf stdout and this \
                     namespace, that their logs reach CloudWatch in this region, and that \
                     traffic flows; an idle service needs a [[probe]] with direct = true, \
                     through which prune sends its own request"
                )?;
                self.unversioned_note(f)?;
                write!(f, " (`prune --ignore-evidence` narrows anyway)")
            }
            Verdict::Stale => {
                let newest = self.current.newest.map_or("never".to_owned(), |s| {
                    format!(
                        "{} before this read",
                        human(report.read_at.saturating_sub(s))
                    )
                });
                write!(
                    f,
                    ": AWSCURRENT's newest request in CloudWatch is from {newest}, before the \
                     newest {} CloudWatch can show, so the proxies (or the traffic) stopped \
                     reporting and their silence proves nothing. Check the proxies' logs and \
                     traffic; an idle service needs a [[probe]] with direct = true",
                    human(report.fresh_secs)
                )?;
                self.unversioned_note(f)?;
                write!(f, " (`prune --ignore-evidence` narrows anyway)")
            }
        }
    }

    fn unversioned_note(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for u in &self.unversioned {
            write!(
                f,
                ". Proxies report {} request(s) under VersionId={}: they read the secret \
                 from {}, not Secrets Manager, so their requests prove nothing about a \
                 version; run them with --secret-source secretsmanager:…",
                u.total,
                u.version_id,
                if u.version_id == "env" {
                    "their environment"
                } else {
                    "a file"
                }
            )?;
        }
        Ok(())
    }
}
