//! The evidence gate inside the rotation: reading every source, waiting for quiet, and
//! keeping an idle service's evidence fresh with requests of the tool's own.

use std::time::Duration;

use super::{Rotation, Staged};
use crate::error::SyncError;
use crate::evidence::{NOT_A_VERSION, Report, SourceReport, VersionCount, Window};
use crate::value::Secret;

impl Rotation {
    /// With `[evidence]`: polls the counts until they are quiet, up to `timeout`, sending
    /// a request with AWSCURRENT through each direct probe before each read. Past it the
    /// rotation stays finished but unpruned, and this says why.
    pub(super) async fn wait_for_evidence(&self) -> Result<(), SyncError> {
        let Some((_, settings)) = &self.evidence else {
            return Ok(());
        };
        let poll =
            (settings.quiet_period / 4).clamp(Duration::from_secs(5), Duration::from_secs(60));
        let started = tokio::time::Instant::now();
        loop {
            let staged = self.staged().await?;
            self.heartbeat(&staged).await;
            let Some(report) = self.evidence_report(&staged).await? else {
                return Ok(());
            };
            if report.quiet() {
                return Ok(());
            }
            let waited = started.elapsed();
            if waited >= settings.timeout {
                return Err(SyncError::Timeout(format!(
                    "the rotation is finished but not pruned after waiting {} for quiet: {report}. \
                     Run `prune` once the evidence is quiet",
                    humantime::format_duration(Duration::from_secs(waited.as_secs()))
                )));
            }
            self.progress.step(&format!("waiting for quiet: {report}"));
            self.wait("quiet evidence", poll.min(settings.timeout - waited))
                .await;
        }
    }

    /// Waits `total` (the dual-accept window); with `[evidence]`, sends a request with
    /// AWSCURRENT through each direct probe every beat meanwhile, so that an idle service
    /// has fresh evidence when the window ends.
    pub(super) async fn wait_with_heartbeats(&self, what: &str, total: Duration) {
        let Some((_, settings)) = &self.evidence else {
            self.wait(what, total).await;
            return;
        };
        if total.is_zero() {
            return;
        }
        self.progress.waiting(what, total);
        let until = tokio::time::Instant::now() + total;
        let beat = settings.beat();
        loop {
            if let Ok(staged) = self.staged().await {
                self.heartbeat(&staged).await;
            }
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(beat)).await;
        }
    }

    /// With `[evidence]` and an AWSPREVIOUS to prove unused: one request carrying
    /// AWSCURRENT through each direct probe (the ALB), which the proxy that serves it counts
    /// like any other. It keeps AWSCURRENT fresh in CloudWatch for a service with no
    /// traffic of its own; without a direct probe an idle service cannot prove anything.
    /// A failure is reported, not fatal: the read that follows judges the evidence.
    pub async fn heartbeat(&self, staged: &Staged) {
        if self.evidence.is_none()
            || staged.protected_previous().is_none()
            || staged.pending.is_some()
        {
            return;
        }
        let Some((_, current)) = &staged.current else {
            return;
        };
        self.send_current(current).await;
    }

    async fn send_current(&self, current: &Secret) {
        for p in self.probes.iter().filter(|p| p.is_direct()) {
            if let Err(e) = p.accepts(current).await {
                self.progress.step(&format!(
                    "WARNING: the evidence request through {} failed: {e}",
                    p.url()
                ));
            }
        }
    }

    /// With `[evidence]`: the accepted-request counts of every staged version in the
    /// window read now, per source (for `status`).
    pub async fn staged_counts(
        &self,
        staged: &Staged,
    ) -> Result<Option<(Window, Vec<(String, Vec<VersionCount>)>)>, SyncError> {
        let Some((witnesses, settings)) = &self.evidence else {
            return Ok(None);
        };
        let ids: Vec<&str> = [&staged.current, &staged.pending, &staged.previous]
            .into_iter()
            .flatten()
            .map(|(v, _)| v.id.as_str())
            .collect();
        let window = Window::at(settings, (self.clock)());
        let mut out = Vec::new();
        for w in witnesses {
            out.push((w.source().to_owned(), w.accepted(&ids, &window).await?));
        }
        Ok(Some((window, out)))
    }

    /// The counts for AWSCURRENT and AWSPREVIOUS (and the unversioned `env`/`file`) in
    /// every source, when `[evidence]` is configured and there is an AWSPREVIOUS to narrow
    /// away; reported to progress. An unreadable source is an error, never quiet.
    pub async fn evidence_report(&self, staged: &Staged) -> Result<Option<Report>, SyncError> {
        let Some((witnesses, settings)) = &self.evidence else {
            return Ok(None);
        };
        let (Some((current, _)), Some((previous, _))) =
            (&staged.current, staged.protected_previous())
        else {
            return Ok(None);
        };
        let window = Window::at(settings, (self.clock)());
        let mut ids = vec![current.id.as_str(), previous.id.as_str()];
        ids.extend(NOT_A_VERSION);
        let mut sources = Vec::new();
        for w in witnesses {
            let counts = w.accepted(&ids, &window).await?;
            sources.push(SourceReport::new(
                w.source(),
                &counts,
                &current.id,
                Some(&previous.id),
                &window,
            ));
        }
        let report = Report::new(settings, &window, sources);
        self.progress.evidence(&report);
        Ok(Some(report))
    }
}
