//! The five steps and rollback, one method each. Each reads the stages and the targets
//! first and does only what is missing, so it may be run again at any time.

use std::time::Duration;

use tokio::time::Instant;

use super::Rotation;
use crate::error::SyncError;
use crate::probe::Probe;
use crate::progress::Phase;
use crate::store::{CURRENT, PENDING, PREVIOUS, PRUNED_WITHOUT_EVIDENCE_TAG, Stored};
use crate::value::Secret;

/// Bounds of the pause between two tries of the acceptors' proof.
const PROOF_PAUSE_MIN: Duration = Duration::from_millis(200);
const PROOF_PAUSE_MAX: Duration = Duration::from_secs(5);
/// Consecutive accepted requests the proof needs per direct probe. An ALB has a node in
/// each enabled Availability Zone (and more under load), each reached by DNS, and WAF
/// propagates to each on its own: one accepted request proves one node. Each probe
/// request opens its own connection (and resolves the name again), so six in a row
/// without a refusal make it unlikely that a node still refuses.
pub(crate) const PROOF_SAMPLES: usize = 6;

impl Rotation {
    /// Step 1: a new AWSPENDING version with this token (or the one it already made).
    pub async fn create(&self, token: &str) -> Result<(), SyncError> {
        self.progress.phase(Phase::Create);
        let state = self.store.state().await?;
        let registered = match state.version(token) {
            Some(v) if v.has(CURRENT) => true,
            Some(v) if v.has(PENDING) => {
                // Secrets Manager's own rotation registers the id before createSecret.
                match self.store.value(token).await? {
                    Stored::Value(_) => {
                        self.progress
                            .step(&format!("create: version {token} exists already"));
                        return Ok(());
                    }
                    Stored::Unusable(problem) => {
                        return Err(SyncError::Refused(format!(
                            "version {token} (AWSPENDING) holds a value the proxies skip: {problem}; run `rollback`"
                        )));
                    }
                    Stored::NotYet => false,
                }
            }
            Some(_) => {
                return Err(SyncError::Refused(format!(
                    "version {token} exists but is neither AWSPENDING nor AWSCURRENT"
                )));
            }
            None => false,
        };
        if registered {
            self.progress
                .step(&format!("create: version {token} is current already"));
            return Ok(());
        }
        // AWS may leave AWSPENDING on the AWSCURRENT version after a rotation: finished.
        if let Some(other) = state
            .with_stage(PENDING)
            .filter(|v| v.id != token && !v.has(CURRENT))
        {
            return Err(SyncError::Refused(format!(
                "AWSPENDING is on another version ({}): finish that rotation or run `rollback`",
                other.id
            )));
        }
        if state.with_stage(CURRENT).is_none() {
            return Err(SyncError::Refused(
                "the secret has no AWSCURRENT version".into(),
            ));
        }
        self.not_locked(&state, "a new rotation")?;
        self.check_acceptors().await?;
        self.check_injectors().await?;
        self.prune_before_a_new_rotation().await?;
        self.store.put_pending(token, &Secret::generate()?).await?;
        self.progress
            .step(&format!("create: AWSPENDING version {token}"));
        Ok(())
    }

    /// A new rotation's finish moves AWSCURRENT, and Secrets Manager moves AWSPREVIOUS
    /// with it ("UpdateSecretVersionStage", AWS Secrets Manager API Reference): the last
    /// rotation's AWSPREVIOUS would leave every proxy, past its window and the evidence
    /// gate. So the prune runs first with all its guards; if it refuses, the new rotation
    /// refuses too, having changed nothing.
    async fn prune_before_a_new_rotation(&self) -> Result<(), SyncError> {
        let staged = self.staged().await?;
        let Some((previous, _)) = staged.protected_previous() else {
            return Ok(());
        };
        match self.narrow(false, false).await {
            Ok(()) => Ok(()),
            Err(SyncError::Refused(why)) => Err(SyncError::Refused(format!(
                "a new rotation would detach AWSPREVIOUS (version {}), which the last rotation still protects, so it is not started: {why}. Run it again once `prune` can; if you are sure nothing sends the old value, a person may run `edgeguard-sync prune --force` (past the window) or `prune --ignore-evidence`, then rotate",
                previous.id
            ))),
            Err(e) => Err(e),
        }
    }

    /// Step 2: widen the acceptors to {current, pending, previous}, wait for them to
    /// converge, prove that they accept the pending value, then switch the injectors to
    /// it and wait until that is in effect (CloudFront: Deployed; API stages: deployed).
    pub async fn set(&self, token: &str) -> Result<(), SyncError> {
        self.set_until(token, None).await
    }

    /// `set`, ending by `until` (the rotation Lambda's deadline, less its margin): the
    /// injectors switch at once and each is given what is left of it. Past it the step
    /// fails retryably and can be run again: it resumes from what the targets say.
    /// Without `until`, each injector has `cloudfront_deploy_timeout`.
    pub async fn set_until(&self, token: &str, until: Option<Instant>) -> Result<(), SyncError> {
        let staged = self.staged().await?;
        staged.usable()?;
        let (_, current) = staged.current()?;
        let Some((version, pending)) = staged.pending.as_ref().filter(|(v, _)| v.id == token)
        else {
            return Err(SyncError::Refused(format!(
                "version {token} is not AWSPENDING"
            )));
        };
        self.fits_every_target(version, pending)?;
        self.progress.phase(Phase::Widen);
        let mut wanted = vec![current.clone(), pending.clone()];
        wanted.extend(staged.previous.as_ref().map(|(_, v)| v.clone()));
        for a in &self.acceptors {
            self.make_accept(a.as_ref(), &wanted).await?;
        }
        let mut switched = true;
        for i in &self.injectors {
            switched &= i.sent().await?.iter().all(|s| s.sends(pending));
        }
        if !switched {
            // The proxies pick AWSPENDING up on their own refresh; the WAF needs time to
            // propagate. Waited again on a resumed `set`: when the first wait ended is
            // unknown.
            self.progress.phase(Phase::Settle);
            self.wait("acceptors to converge", self.timing.acceptor_settle)
                .await;
            self.prove_acceptors(pending).await?;
        }
        self.still_ours_and_accepted(token, &wanted).await?;
        self.progress.phase(Phase::Switch);
        self.point_injectors_at(pending, "pending", until).await?;
        self.progress
            .step(&format!("set: injectors send version {}", version.id));
        Ok(())
    }

    /// Just before the injectors switch: AWSPENDING is still this rotation's, and every
    /// acceptor still accepts `wanted`. Secrets Manager has no conditional write, so two
    /// `rotate` started at once can both create a version (AWSPENDING moves to the later
    /// one) and both pass the check at the start of `set`; each then widens the acceptors
    /// to its own pair. Here the earlier one stops before touching an injector, and the
    /// later one widens again (and waits for it) if the other's widening replaced its own.
    /// (The Lambda is never raced: Secrets Manager runs one rotation of a secret at a time.)
    async fn still_ours_and_accepted(
        &self,
        token: &str,
        wanted: &[Secret],
    ) -> Result<(), SyncError> {
        for _ in 0..3 {
            let staged = self.staged().await?;
            if staged.pending.as_ref().is_none_or(|(v, _)| v.id != token) {
                return Err(SyncError::Refused(format!(
                    "version {token} is no longer AWSPENDING: another rotation started meanwhile; run `status`"
                )));
            }
            let mut widened_again = false;
            for a in &self.acceptors {
                widened_again |= self.make_accept(a.as_ref(), wanted).await?;
            }
            if !widened_again {
                return Ok(());
            }
            self.wait("acceptors to converge", self.timing.acceptor_settle)
                .await;
        }
        Err(SyncError::Refused(
            "the acceptors keep changing under this rotation (another one runs?): run `status`"
                .into(),
        ))
    }

    /// Before any injector changes: the pending value, sent straight to each direct probe
    /// (the ALB, past the WAF and the proxies), must be let through. Tried again within
    /// `acceptor_settle` (WAF propagation takes "from a few seconds to a number of
    /// minutes", AWS WAF developer guide); then `set` fails with every injector still on
    /// AWSCURRENT.
    async fn prove_acceptors(&self, pending: &Secret) -> Result<(), SyncError> {
        let direct: Vec<&dyn Probe> = self
            .probes
            .iter()
            .filter(|p| p.is_direct())
            .map(|p| p.as_ref())
            .collect();
        if direct.is_empty() {
            self.progress.step(
                "set: no direct probe configured, so the acceptors are not proven before the switch (add a [[probe]] with direct = true)",
            );
            return Ok(());
        }
        let until = Instant::now() + self.timing.acceptor_settle;
        let pause = (self.timing.acceptor_settle / 10).clamp(PROOF_PAUSE_MIN, PROOF_PAUSE_MAX);
        for p in direct {
            let mut in_a_row = 0;
            while in_a_row < PROOF_SAMPLES {
                match p.accepts(pending).await {
                    Ok(()) => in_a_row += 1,
                    Err(e) if Instant::now() + pause < until => {
                        tracing::debug!(probe = p.url(), error = %e, in_a_row, "pending value not accepted yet");
                        in_a_row = 0;
                        tokio::time::sleep(pause).await;
                    }
                    Err(e) => {
                        return Err(SyncError::Probe {
                            url: p.url().to_owned(),
                            problem: format!(
                                "the acceptors do not accept the pending value {PROOF_SAMPLES} times in a row within acceptor_settle ({e}); every injector still sends AWSCURRENT. Run `set` again once the WAF has propagated, or raise timing.acceptor_settle"
                            ),
                        });
                    }
                }
            }
            self.progress.step(&format!(
                "set: {} accepts the pending value ({PROOF_SAMPLES} requests in a row)",
                p.url()
            ));
        }
        Ok(())
    }

    /// Every injector to `value`, all at once, each waiting until it is in effect within
    /// what is left before `until`.
    async fn point_injectors_at(
        &self,
        value: &Secret,
        stage: &str,
        until: Option<Instant>,
    ) -> Result<(), SyncError> {
        let budget = || -> Result<Duration, SyncError> {
            let limit = self.timing.cloudfront_deploy_timeout;
            let Some(until) = until else {
                return Ok(limit);
            };
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SyncError::Timeout(
                    "no time left in this invocation to switch the injectors; the step will run again".into(),
                ));
            }
            Ok(left.min(limit))
        };
        let progress = self.progress.as_ref();
        let each = self.injectors.iter().map(|i| async move {
            let sent = i.sent().await?;
            if !sent.iter().all(|s| s.sends(value)) {
                progress.step(&format!("{} → {stage}", i.name()));
                i.send(value, budget()?, progress).await
            } else if !sent.iter().all(|s| s.settled) {
                progress.step(&format!("waiting for {} to take effect", i.name()));
                i.wait_settled(budget()?).await
            } else {
                Ok(())
            }
        });
        futures_util::future::try_join_all(each).await?;
        Ok(())
    }

    /// The first injector location that does not send `value`, or not yet everywhere.
    async fn first_not_sending(&self, value: &Secret) -> Result<Option<String>, SyncError> {
        for i in &self.injectors {
            for s in i.sent().await? {
                if !s.sends(value) {
                    return Ok(Some(format!(
                        "{} {} sends another value",
                        i.name(),
                        s.location
                    )));
                }
                if !s.settled {
                    return Ok(Some(format!(
                        "{} {} is still deploying",
                        i.name(),
                        s.location
                    )));
                }
            }
        }
        Ok(None)
    }

    /// Step 3: every probe answers as expected; direct probes also let the pending
    /// value through.
    pub async fn test(&self, token: &str) -> Result<(), SyncError> {
        self.progress.phase(Phase::Test);
        if self.probes.is_empty() {
            self.progress.step("test: no probes configured");
            return Ok(());
        }
        let staged = self.staged().await?;
        let value = match (&staged.pending, &staged.current) {
            (Some((v, value)), _) | (None, Some((v, value))) if v.id == token => Some(value),
            _ => None,
        };
        for p in &self.probes {
            p.run().await?;
            if let (true, Some(value)) = (p.is_direct(), value) {
                p.accepts(value).await?;
            }
            self.progress.step(&format!("test: {} ok", p.url()));
        }
        Ok(())
    }

    /// Step 4: AWSCURRENT moves to the pending version (the old one becomes AWSPREVIOUS),
    /// AWSPENDING is detached, and the time is recorded for the window.
    pub async fn finish(&self, token: &str) -> Result<(), SyncError> {
        self.progress.phase(Phase::Finish);
        let staged = self.staged().await?;
        let Some(version) = staged.state.version(token) else {
            return Err(SyncError::Refused(format!("no version {token}")));
        };
        let moved = !version.has(CURRENT);
        if moved {
            staged.usable()?;
            let Some((_, pending)) = staged.pending.as_ref().filter(|(v, _)| v.id == token) else {
                return Err(SyncError::Refused(format!(
                    "version {token} is not AWSPENDING"
                )));
            };
            if let Some(which) = self.first_not_sending(pending).await? {
                return Err(SyncError::Refused(format!(
                    "{which}, not the pending value in effect: run `set` first"
                )));
            }
            let (current, _) = staged.current()?;
            self.store
                .move_stage(CURRENT, Some(token), Some(&current.id))
                .await?;
            self.progress
                .step(&format!("finish: AWSCURRENT → version {token}"));
        }
        let state = self.store.state().await?;
        let detach = state.version(token).is_some_and(|v| v.has(PENDING));
        if detach {
            self.store.move_stage(PENDING, None, Some(token)).await?;
        }
        // A retried finish (AWSCURRENT moved, clean-up or record cut short) completes them:
        // the window's start is recorded for *this* version (the last rotation's record
        // would count its window as long over). One retried after it all leaves the window
        // where it was.
        if moved || detach || state.finished_version.as_deref() != Some(token) {
            self.store.set_finished_at((self.clock)(), token).await?;
        }
        Ok(())
    }

    /// Step 5: after the window (unless `force`), and only while every injector sends
    /// AWSCURRENT: acceptors accept {current} only, AWSPREVIOUS is detached.
    pub async fn prune(&self, force: bool) -> Result<(), SyncError> {
        self.prune_with(force, false).await
    }

    /// `prune`, and with `ignore_evidence` the evidence gate skipped: said loudly, and
    /// tagged on the secret (`edgeguard:pruned-without-evidence`).
    pub async fn prune_with(&self, force: bool, ignore_evidence: bool) -> Result<(), SyncError> {
        self.progress.phase(Phase::Prune);
        self.narrow(force, ignore_evidence).await
    }

    /// A finish cut short before its record, or AWSCURRENT moved by something else: the
    /// window of AWSCURRENT has no start. Records it now, which starts it later than the
    /// real finish, never earlier.
    pub async fn record_window_start(&self, staged: &super::Staged) -> Result<(), SyncError> {
        if staged.protected_previous().is_none() || staged.pending.is_some() {
            return Ok(());
        }
        let Some((current, _)) = &staged.current else {
            return Ok(());
        };
        if self.window_start(staged).is_some() {
            return Ok(());
        }
        self.store
            .set_finished_at((self.clock)(), &current.id)
            .await?;
        self.progress.step(&format!(
            "the finish of version {} was not recorded: its dual-accept window starts now",
            current.id
        ));
        Ok(())
    }

    /// The prune itself (see [`Self::prune_with`]).
    async fn narrow(&self, force: bool, ignore_evidence: bool) -> Result<(), SyncError> {
        let mut staged = self.staged().await?;
        self.not_locked(&staged.state, "the prune")?;
        if !force {
            self.record_window_start(&staged).await?;
            staged = self.staged().await?;
        }
        let (_, current) = staged.current()?;
        if let Some((v, _)) = &staged.pending {
            return Err(SyncError::Refused(format!(
                "a rotation is under way (AWSPENDING on {}): finish or roll it back first",
                v.id
            )));
        }
        if let Some(which) = self.first_not_sending(current).await? {
            return Err(SyncError::Refused(format!(
                "{which}, not the current value in effect: pruning would reject its requests"
            )));
        }
        if !force {
            let left = self.window_left(&staged);
            if !left.is_zero() {
                return Err(SyncError::Refused(format!(
                    "the dual-accept window has {} left (use --force to prune now)",
                    humantime::format_duration(Duration::from_secs(left.as_secs()))
                )));
            }
        }
        if ignore_evidence {
            if staged.previous.is_some() {
                self.progress.step(
                    "WARNING: pruning WITHOUT EVIDENCE (--ignore-evidence): requests that still \
                     carry AWSPREVIOUS will be rejected; tagged edgeguard:pruned-without-evidence",
                );
                let at = time::OffsetDateTime::from((self.clock)())
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                self.store.tag(PRUNED_WITHOUT_EVIDENCE_TAG, &at).await?;
            }
        } else if let Some(report) = self.evidence_report(&staged).await? {
            if !report.quiet() {
                return Err(SyncError::Refused(format!("prune refused: {report}")));
            }
            self.progress.step(&format!("prune: {report}"));
        }
        // The scheduled prune runs beside Secrets Manager's own calls (no reserved
        // concurrency): a rotation may have started while the evidence was read. Read
        // again just before narrowing; `set` re-checks the acceptors before it switches
        // any injector, so a narrowing that still slips in before its widening is undone
        // there, never sent.
        if let Some((v, _)) = &self.staged().await?.pending {
            return Err(SyncError::Refused(format!(
                "a rotation started meanwhile (AWSPENDING on {}): pruning is left to it",
                v.id
            )));
        }
        for a in &self.acceptors {
            self.make_accept(a.as_ref(), std::slice::from_ref(current))
                .await?;
        }
        if let Some((previous, _)) = &staged.previous {
            self.store
                .move_stage(PREVIOUS, None, Some(&previous.id))
                .await?;
            self.progress.step(&format!(
                "prune: AWSPREVIOUS detached from version {}",
                previous.id
            ));
        }
        Ok(())
    }

    /// Injectors back to AWSCURRENT and in effect (CloudFront Deployed, stages serving
    /// it), then `acceptor_settle` for requests already on their way, then acceptors
    /// narrowed to {current, previous}, then AWSPENDING detached.
    pub async fn rollback(&self) -> Result<(), SyncError> {
        let staged = self.staged().await?;
        let (_, current) = staged.current()?;
        let mut moved = false;
        for i in &self.injectors {
            let sent = i.sent().await?;
            moved |= !sent.iter().all(|s| s.settled_on(current));
        }
        if moved {
            self.progress.step("rollback: injectors → current");
            self.point_injectors_at(current, "current", None).await?;
            if let Some(which) = self.first_not_sending(current).await? {
                return Err(SyncError::Timeout(format!(
                    "rollback: {which}; run `rollback` again"
                )));
            }
            self.wait(
                "requests on their way with the pending value",
                self.timing.acceptor_settle,
            )
            .await;
        }
        let mut wanted = vec![current.clone()];
        wanted.extend(staged.previous.as_ref().map(|(_, v)| v.clone()));
        for a in &self.acceptors {
            self.make_accept(a.as_ref(), &wanted).await?;
        }
        let pending = staged.state.with_stage(PENDING).filter(|v| !v.has(CURRENT));
        if let Some(pending) = pending {
            self.store
                .move_stage(PENDING, None, Some(&pending.id))
                .await?;
            self.progress.step(&format!(
                "rollback: AWSPENDING detached from version {}",
                pending.id
            ));
        }
        Ok(())
    }
}
