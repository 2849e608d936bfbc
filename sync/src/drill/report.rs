//! The drill's report: per phase, what happened to the requests through the edge and to
//! those sent straight to the origin without the header; as a table, JSON or JUnit XML.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use super::Counters;
use crate::progress::Phase;

/// Requests through the edge (they carry the header): all should succeed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EdgeCounts {
    pub sent: u64,
    /// 2xx (or the probe's expected status).
    pub ok: u64,
    /// 403: the WAF or a proxy rejected the value the edge sent.
    pub rejected: u64,
    /// Any other status, a connection error or a timeout.
    pub errors: u64,
}

impl EdgeCounts {
    pub fn failed(&self) -> u64 {
        self.rejected + self.errors
    }
}

/// Requests straight to the origin without the header: all should be rejected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DirectCounts {
    pub sent: u64,
    /// 403 (or the probe's expected status).
    pub rejected: u64,
    /// 2xx: an unauthenticated request got through.
    pub let_through: u64,
    /// Any other status, a connection error or a timeout (not a pass, not a leak).
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub phase: Phase,
    pub edge: EdgeCounts,
    pub direct: DirectCounts,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub secret_id: String,
    pub rps: u32,
    pub seconds: f64,
    /// None when the rotation completed; else why not.
    pub rotation_error: Option<String>,
    pub phases: Vec<PhaseReport>,
    pub edge: EdgeCounts,
    pub direct: DirectCounts,
    /// The last evidence the prune read, with `[evidence]`.
    pub evidence: Option<crate::evidence::Report>,
    pub passed: bool,
}

impl Report {
    pub(super) fn new(
        secret_id: &str,
        rps: u32,
        outcome: Result<(), String>,
        counters: &Counters,
        took: Duration,
    ) -> Self {
        let load = |row: &[std::sync::atomic::AtomicU64; 4]| {
            let v: Vec<u64> = row.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            [v[0], v[1], v[2], v[3]]
        };
        let mut phases = Vec::new();
        let (mut edge, mut direct) = (EdgeCounts::default(), DirectCounts::default());
        for (i, phase) in Phase::ALL.iter().enumerate() {
            let [sent, ok, rejected, errors] = load(&counters.edge[i]);
            let e = EdgeCounts {
                sent,
                ok,
                rejected,
                errors,
            };
            let [sent, rejected, let_through, errors] = load(&counters.direct[i]);
            let d = DirectCounts {
                sent,
                rejected,
                let_through,
                errors,
            };
            if e.sent + d.sent == 0 {
                continue;
            }
            edge.sent += e.sent;
            edge.ok += e.ok;
            edge.rejected += e.rejected;
            edge.errors += e.errors;
            direct.sent += d.sent;
            direct.rejected += d.rejected;
            direct.let_through += d.let_through;
            direct.errors += d.errors;
            phases.push(PhaseReport {
                phase: *phase,
                edge: e,
                direct: d,
            });
        }
        let rotation_error = outcome.err();
        let passed = rotation_error.is_none()
            && edge.sent > 0
            && edge.failed() == 0
            && direct.let_through == 0;
        Self {
            secret_id: secret_id.to_owned(),
            rps,
            seconds: took.as_secs_f64(),
            rotation_error,
            phases,
            edge,
            direct,
            evidence: counters
                .evidence
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            passed,
        }
    }

    /// The terminal table and verdict.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "drill of {}: {} request(s)/s per URL, {:.0} s",
            self.secret_id, self.rps, self.seconds
        );
        let _ = writeln!(
            out,
            "{:<8} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>11} {:>8}",
            "phase",
            "edge",
            "2xx",
            "rejected",
            "errors",
            "direct",
            "rejected",
            "let through",
            "errors"
        );
        let row = |out: &mut String, name: &str, e: &EdgeCounts, d: &DirectCounts| {
            let _ = writeln!(
                out,
                "{:<8} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>11} {:>8}",
                name,
                e.sent,
                e.ok,
                e.rejected,
                e.errors,
                d.sent,
                d.rejected,
                d.let_through,
                d.errors
            );
        };
        for p in &self.phases {
            row(&mut out, p.phase.name(), &p.edge, &p.direct);
        }
        row(&mut out, "total", &self.edge, &self.direct);
        match &self.rotation_error {
            None => {
                out.push_str("rotation: completed (create, set, test, finish, window, prune)\n")
            }
            Some(e) => {
                let _ = writeln!(out, "rotation: FAILED: {e}");
            }
        }
        if let Some(e) = &self.evidence {
            let _ = writeln!(out, "the prune's {e}");
        }
        if self.direct.sent == 0 {
            out.push_str("no direct probes configured: unauthenticated requests were not tried\n");
        }
        let _ = writeln!(
            out,
            "{}: {} of {} valid request(s) failed; {} of {} unauthenticated request(s) got through",
            if self.passed { "PASSED" } else { "FAILED" },
            self.edge.failed(),
            self.edge.sent,
            self.direct.let_through,
            self.direct.sent
        );
        out
    }

    /// JUnit XML: one test case for the rotation, and one per phase.
    pub fn junit(&self) -> String {
        let mut cases = String::new();
        let mut failures = 0;
        let mut case = |name: &str, failure: Option<String>, out: String| {
            let _ = write!(
                cases,
                "  <testcase classname=\"edgeguard.drill\" name=\"{}\">",
                xml(name)
            );
            if let Some(f) = failure {
                failures += 1;
                let _ = write!(cases, "<failure message=\"{}\"/>", xml(&f));
            }
            let _ = writeln!(cases, "<system-out>{}</system-out></testcase>", xml(&out));
        };
        case(
            "rotation completes",
            self.rotation_error.clone(),
            format!("{:.1} s", self.seconds),
        );
        for p in &self.phases {
            let failure = match (p.edge.failed(), p.direct.let_through) {
                (0, 0) => None,
                (f, l) => Some(format!(
                    "{f} valid request(s) failed, {l} unauthenticated request(s) got through"
                )),
            };
            case(
                &format!("no failed request during {}", p.phase.name()),
                failure,
                format!(
                    "edge: {} sent, {} ok, {} rejected, {} errors; direct: {} sent, {} rejected, {} let through, {} errors",
                    p.edge.sent,
                    p.edge.ok,
                    p.edge.rejected,
                    p.edge.errors,
                    p.direct.sent,
                    p.direct.rejected,
                    p.direct.let_through,
                    p.direct.errors
                ),
            );
        }
        let tests = 1 + self.phases.len();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"edgeguard-sync drill\" tests=\"{tests}\" failures=\"{failures}\" time=\"{:.3}\">\n{cases}</testsuite>\n",
            self.seconds
        )
    }
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
