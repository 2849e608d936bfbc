//! `status`: the versions, what each acceptor accepts and each injector sends (as stages,
//! never values), and every drift from the invariant. Also `plan`: what `rotate` would do.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::SyncError;
use crate::rotation::{Holds, Rotation, Staged, Start};
use crate::store::{CURRENT, PENDING, PREVIOUS};

#[derive(Debug, Serialize)]
pub struct Report {
    pub secret: String,
    pub versions: Vec<VersionReport>,
    pub acceptors: Vec<TargetReport>,
    pub injectors: Vec<TargetReport>,
    /// Seconds since the epoch of the last finish, if any.
    pub finished_at: Option<u64>,
    pub rotation_in_progress: bool,
    /// Each a sentence; empty when the invariant holds.
    pub drift: Vec<String>,
    /// With `[evidence]`: accepted requests per staged version over the quiet period.
    pub evidence: Option<EvidenceReport>,
    /// Worth knowing, not drift (the exit code does not change).
    pub warnings: Vec<String>,
    /// The deploy lock while a stack deploy holds it (`<holder>; until <time>`).
    pub deploy_lock: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct EvidenceReport {
    /// The quiet period; the window read is this and the blind part before now.
    pub period_secs: u64,
    /// The newest part CloudWatch may not show yet.
    pub blind_secs: u64,
    pub sources: Vec<SourceCounts>,
}

#[derive(Debug, Serialize)]
pub struct SourceCounts {
    pub source: String,
    pub versions: Vec<crate::evidence::VersionCount>,
}

#[derive(Debug, Serialize)]
pub struct VersionReport {
    pub id: String,
    pub stages: Vec<String>,
    pub created: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct TargetReport {
    pub name: String,
    /// Per location (or the acceptor's accepted values): the stage held.
    pub holds: Vec<Located>,
    pub error: Option<String>,
    /// What the target chose not to touch, and why (injectors only).
    pub left_alone: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Located {
    pub location: String,
    pub holds: Holds,
    /// False while the value is not yet in effect everywhere (CloudFront deploying).
    pub settled: bool,
}

fn epoch(t: Option<SystemTime>) -> Option<u64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

/// Reads everything and checks the invariant. Errors reading the secret itself are
/// returned; a target that cannot be read or managed is drift.
pub async fn status(rotation: &Rotation) -> Result<Report, SyncError> {
    let staged = rotation.staged().await?;
    let mut drift = Vec::new();
    for u in &staged.unusable {
        drift.push(format!(
            "{u}: it is never written to a target; put a valid value or detach the stage"
        ));
    }
    if staged.current.is_none() {
        drift.push("the secret has no AWSCURRENT version the proxies accept".to_owned());
    }
    for (stage, staged_value) in [
        ("AWSCURRENT", &staged.current),
        ("AWSPENDING", &staged.pending),
        ("AWSPREVIOUS", &staged.previous),
    ] {
        let Some((version, value)) = staged_value else {
            continue;
        };
        if let Some((target, rule)) = rotation.rule_broken_by(value) {
            drift.push(format!(
                "version {} ({stage}) holds a value that {target} cannot hold exactly ({rule}): it is never written there",
                version.id
            ));
        }
    }
    // What the proxies accept: every staged value.
    let mut accepted_by_all: Vec<Holds> = [Holds::Current, Holds::Pending, Holds::Previous]
        .into_iter()
        .filter(|h| match h {
            Holds::Current => staged.current.is_some(),
            Holds::Pending => staged.pending.is_some(),
            _ => staged.previous.is_some(),
        })
        .collect();

    let mut acceptors = Vec::new();
    for a in rotation.acceptors() {
        match a.accepted().await {
            Ok(values) => {
                let holds: Vec<Holds> = values.iter().map(|v| staged.holds(Some(v))).collect();
                if holds.contains(&Holds::Unknown) {
                    drift.push(format!(
                        "{} accepts a value that is no staged version's (edited by hand?)",
                        a.name()
                    ));
                }
                if !holds.contains(&Holds::Current) {
                    drift.push(format!("{} does not accept the current value", a.name()));
                }
                accepted_by_all.retain(|h| holds.contains(h));
                acceptors.push(TargetReport {
                    name: a.name().to_owned(),
                    holds: holds
                        .into_iter()
                        .map(|h| Located {
                            location: "accepts".into(),
                            holds: h,
                            settled: true,
                        })
                        .collect(),
                    error: None,
                    left_alone: Vec::new(),
                });
            }
            Err(e) => {
                drift.push(e.to_string());
                accepted_by_all.clear();
                acceptors.push(TargetReport {
                    name: a.name().to_owned(),
                    holds: Vec::new(),
                    error: Some(e.to_string()),
                    left_alone: Vec::new(),
                });
            }
        }
    }

    let mut injectors = Vec::new();
    for i in rotation.injectors() {
        match i.sent().await {
            Ok(sent) => {
                let mut located = Vec::new();
                for s in sent {
                    let holds = staged.holds(s.value.as_ref());
                    if !accepted_by_all.contains(&holds) {
                        drift.push(format!(
                            "{} {} sends {} which some acceptor rejects",
                            i.name(),
                            s.location,
                            describe(holds)
                        ));
                    }
                    located.push(Located {
                        location: s.location,
                        holds,
                        settled: s.settled,
                    });
                }
                injectors.push(TargetReport {
                    name: i.name().to_owned(),
                    holds: located,
                    error: None,
                    left_alone: i.left_alone().await.unwrap_or_default(),
                });
            }
            Err(e) => {
                drift.push(e.to_string());
                injectors.push(TargetReport {
                    name: i.name().to_owned(),
                    holds: Vec::new(),
                    error: Some(e.to_string()),
                    left_alone: i.left_alone().await.unwrap_or_default(),
                });
            }
        }
    }

    let in_progress = rotation.pending_in_progress(&staged).await.unwrap_or(false);
    if let (Some((v, _)), false) = (&staged.pending, in_progress) {
        drift.push(format!(
            "a stale AWSPENDING is on version {}: run `rollback`",
            v.id
        ));
    }
    let mut warnings = Vec::new();
    let evidence = match rotation.staged_counts(&staged).await {
        Ok(None) => None,
        Ok(Some((window, sources))) => {
            let previous = staged.previous.as_ref().map(|(v, _)| v.id.as_str());
            for (source, versions) in &sources {
                let previous_count = versions
                    .iter()
                    .find(|c| Some(c.version_id.as_str()) == previous)
                    .map_or(0, |c| c.total);
                if previous_count > 0 {
                    warnings.push(format!(
                        "AWSPREVIOUS still in use: {previous_count} request(s) carried it in the last {} in {source} (prune would refuse)",
                        humantime::format_duration(window.span())
                    ));
                }
            }
            let settings = rotation.evidence_settings();
            Some(EvidenceReport {
                period_secs: settings.map_or(0, |s| s.quiet_period.as_secs()),
                blind_secs: settings.map_or(0, |s| s.blind().as_secs()),
                sources: sources
                    .into_iter()
                    .map(|(source, versions)| SourceCounts { source, versions })
                    .collect(),
            })
        }
        Err(e) => {
            warnings.push(format!("cannot read the evidence: {e}"));
            None
        }
    };
    Ok(Report {
        secret: rotation.store().name().to_owned(),
        versions: staged
            .state
            .versions
            .iter()
            .filter(|v| v.has(CURRENT) || v.has(PENDING) || v.has(PREVIOUS))
            .map(|v| VersionReport {
                id: v.id.clone(),
                stages: v.stages.clone(),
                created: epoch(v.created),
            })
            .collect(),
        acceptors,
        injectors,
        finished_at: epoch(staged.state.finished_at),
        rotation_in_progress: in_progress,
        drift,
        evidence,
        warnings,
        deploy_lock: staged
            .state
            .lock
            .as_ref()
            .filter(|l| l.held_at(rotation.now()))
            .map(|l| l.to_tag()),
    })
}

fn describe(h: Holds) -> &'static str {
    match h {
        Holds::Current => "the current value",
        Holds::Pending => "the pending value",
        Holds::Previous => "the previous value",
        Holds::Unknown => "a value that is no staged version's",
        Holds::Nothing => "no header",
    }
}

impl Report {
    /// The text form of `status`.
    pub fn text(&self) -> String {
        let mut out = format!("secret {}\n", self.secret);
        for v in &self.versions {
            out.push_str(&format!("  version {} {}\n", v.id, v.stages.join(",")));
        }
        for (kind, targets) in [("acceptor", &self.acceptors), ("injector", &self.injectors)] {
            for t in targets {
                match &t.error {
                    Some(e) => out.push_str(&format!("{kind} {}: ERROR {e}\n", t.name)),
                    None => {
                        let parts: Vec<String> = t
                            .holds
                            .iter()
                            .map(|l| {
                                format!(
                                    "{}={}{}",
                                    l.location,
                                    describe(l.holds).trim_start_matches("the "),
                                    if l.settled { "" } else { " (deploying)" }
                                )
                            })
                            .collect();
                        out.push_str(&format!("{kind} {}: {}\n", t.name, parts.join("; ")));
                    }
                }
            }
        }
        if let Some(e) = &self.evidence {
            let period = humantime::format_duration(std::time::Duration::from_secs(
                e.period_secs + e.blind_secs,
            ));
            for s in &e.sources {
                for c in &s.versions {
                    let edges: Vec<String> =
                        c.by_edge.iter().map(|(e, n)| format!("{e}={n}")).collect();
                    out.push_str(&format!(
                        "accepted in the last {period} ({}): version {} {}{}\n",
                        s.source,
                        c.version_id,
                        c.total,
                        if edges.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", edges.join(", "))
                        }
                    ));
                }
            }
        }
        for t in &self.injectors {
            for why in &t.left_alone {
                out.push_str(&format!("injector {} leaves alone {why}\n", t.name));
            }
        }
        if self.rotation_in_progress {
            out.push_str("a rotation is in progress\n");
        }
        if let Some(lock) = &self.deploy_lock {
            out.push_str(&format!(
                "a stack deploy holds the deploy lock ({lock}): new rotations and prunes wait\n"
            ));
        }
        for w in &self.warnings {
            out.push_str(&format!("WARNING: {w}\n"));
        }
        if self.drift.is_empty() {
            out.push_str(
                "invariant holds: every value an injector sends is accepted by every acceptor\n",
            );
        } else {
            for d in &self.drift {
                out.push_str(&format!("DRIFT: {d}\n"));
            }
        }
        out
    }
}

/// `plan`: what `rotate` would change, target by target, changing nothing.
pub async fn plan(rotation: &Rotation) -> Result<Vec<String>, SyncError> {
    let start = rotation.start().await?;
    let staged: Staged = rotation.staged().await?;
    let mut lines = Vec::new();
    match &start {
        Start::PruneOnly => {
            lines.push(
                "the last rotation was not pruned: wait for the window, then prune".to_owned(),
            );
            for a in rotation.acceptors() {
                lines.push(format!("{}: narrow to the current value", a.name()));
            }
            lines.push("secret: detach AWSPREVIOUS".to_owned());
            return Ok(lines);
        }
        Start::Resume(token) => lines.push(format!("resume the rotation of version {token}")),
        Start::New(_) => {
            lines.push("create: a new AWSPENDING version (256 random bits)".to_owned())
        }
    }
    let widened = if staged.previous.is_some() {
        "current, pending and previous"
    } else {
        "current and pending"
    };
    for a in rotation.acceptors() {
        lines.push(format!("set: {} accepts {widened}", a.name()));
    }
    lines.push(format!(
        "set: wait {} for acceptors to converge",
        humantime::format_duration(rotation.timing().acceptor_settle)
    ));
    for i in rotation.injectors() {
        let n = i.sent().await?.len();
        lines.push(format!(
            "set: {} sends the pending value ({n} location(s))",
            i.name()
        ));
    }
    for p in rotation.probes() {
        lines.push(format!("test: probe {}", p.url()));
    }
    lines.push(
        "finish: AWSCURRENT moves to the new version; the old one becomes AWSPREVIOUS".to_owned(),
    );
    lines.push(format!(
        "prune, after {}: acceptors accept the current value only; AWSPREVIOUS detached",
        humantime::format_duration(rotation.timing().dual_accept_window)
    ));
    Ok(lines)
}
