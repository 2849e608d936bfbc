//! The five steps and rollback, one method each. Each reads the stages and the targets
//! first and does only what is missing, so it may be run again at any time.

use std::time::Duration;

use super::{Phase, Rotation};
use crate::error::SyncError;
use crate::store::{CURRENT, PENDING, PREVIOUS};
use crate::value::SecretValue;

impl Rotation {
    /// Step 1: a new AWSPENDING version with this token (or the one it already made).
    pub async fn create(&self, token: &str) -> Result<(), SyncError> {
        self.progress.phase(Phase::Create);
        let state = self.store.state().await?;
        let registered = match state.version(token) {
            Some(v) if v.has(CURRENT) => true,
            Some(v) if v.has(PENDING) => {
                // Secrets Manager's own rotation registers the id before createSecret.
                if self.store.value(token).await?.is_some() {
                    self.progress
                        .step(&format!("create: version {token} exists already"));
                    return Ok(());
                }
                false
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
        if let Some(other) = state.with_stage(PENDING).filter(|v| v.id != token) {
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
        self.check_acceptors().await?;
        self.store
            .put_pending(token, &SecretValue::generate()?)
            .await?;
        self.progress
            .step(&format!("create: AWSPENDING version {token}"));
        Ok(())
    }

    /// Step 2: widen the acceptors to {current, pending, previous}, wait for them to
    /// converge, then switch the injectors to pending and wait until that is in effect
    /// (CloudFront: Deployed).
    pub async fn set(&self, token: &str) -> Result<(), SyncError> {
        self.set_within(token, self.timing.cloudfront_deploy_timeout)
            .await
    }

    /// `set`, with each injector given at most `deadline` to take effect (the rotation
    /// Lambda passes what is left of its 15 minutes). Past it the step fails retryably
    /// and can be run again: it resumes from what the targets say.
    pub async fn set_within(&self, token: &str, deadline: Duration) -> Result<(), SyncError> {
        let staged = self.staged().await?;
        let (_, current) = staged.current()?;
        let Some((version, pending)) = staged.pending.as_ref().filter(|(v, _)| v.id == token)
        else {
            return Err(SyncError::Refused(format!(
                "version {token} is not AWSPENDING"
            )));
        };
        self.progress.phase(Phase::Widen);
        let mut wanted = vec![current.clone(), pending.clone()];
        wanted.extend(staged.previous.as_ref().map(|(_, v)| v.clone()));
        for a in &self.acceptors {
            self.make_accept(a.as_ref(), &wanted).await?;
        }
        let mut switched = true;
        for i in &self.injectors {
            switched &= i
                .sent()
                .await?
                .iter()
                .all(|s| s.value.as_ref() == Some(pending));
        }
        if !switched {
            // The proxies pick AWSPENDING up on their own refresh; the WAF needs time to
            // propagate. Waited again on a resumed `set`: when the first wait ended is
            // unknown.
            self.progress.phase(Phase::Settle);
            self.wait("acceptors to converge", self.timing.acceptor_settle)
                .await;
        }
        self.progress.phase(Phase::Switch);
        for i in &self.injectors {
            let sent = i.sent().await?;
            if !sent.iter().all(|s| s.value.as_ref() == Some(pending)) {
                self.progress.step(&format!("set: {} → pending", i.name()));
                i.send(pending, deadline).await?;
            } else if !sent.iter().all(|s| s.settled) {
                self.progress
                    .step(&format!("set: waiting for {} to take effect", i.name()));
                i.wait_settled(deadline).await?;
            }
        }
        self.progress
            .step(&format!("set: injectors send version {}", version.id));
        Ok(())
    }

    /// The first injector location that does not send `value`, or not yet everywhere.
    async fn first_not_sending(&self, value: &SecretValue) -> Result<Option<String>, SyncError> {
        for i in &self.injectors {
            for s in i.sent().await? {
                if s.value.as_ref() != Some(value) {
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

    /// Step 3: every probe answers as expected.
    pub async fn test(&self, _token: &str) -> Result<(), SyncError> {
        self.progress.phase(Phase::Test);
        if self.probes.is_empty() {
            self.progress.step("test: no probes configured");
        }
        for p in &self.probes {
            p.run().await?;
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
        if !version.has(CURRENT) {
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
        if self
            .store
            .state()
            .await?
            .version(token)
            .is_some_and(|v| v.has(PENDING))
        {
            self.store.move_stage(PENDING, None, Some(token)).await?;
        }
        self.store.set_finished_at((self.clock)()).await?;
        Ok(())
    }

    /// Step 5: after the window (unless `force`), and only while every injector sends
    /// AWSCURRENT: acceptors accept {current} only, AWSPREVIOUS is detached.
    pub async fn prune(&self, force: bool) -> Result<(), SyncError> {
        self.progress.phase(Phase::Prune);
        let staged = self.staged().await?;
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

    /// Injectors back to AWSCURRENT, then acceptors narrowed to {current, previous}, then
    /// AWSPENDING detached.
    pub async fn rollback(&self) -> Result<(), SyncError> {
        let staged = self.staged().await?;
        let (_, current) = staged.current()?;
        for i in &self.injectors {
            if i.sent()
                .await?
                .iter()
                .any(|s| s.value.as_ref() != Some(current))
            {
                self.progress
                    .step(&format!("rollback: {} → current", i.name()));
                i.send(current, self.timing.cloudfront_deploy_timeout)
                    .await?;
            }
        }
        let mut wanted = vec![current.clone()];
        wanted.extend(staged.previous.as_ref().map(|(_, v)| v.clone()));
        for a in &self.acceptors {
            self.make_accept(a.as_ref(), &wanted).await?;
        }
        if let Some((pending, _)) = &staged.pending {
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
