//! The rotation steps (docs/design.md, "Rotation"): create → set → test → finish, then prune;
//! and rollback. Each step reads the stages and the targets first and does only what is
//! still missing, so any step may be run again, and `rotate` resumes a half-done rotation.
//!
//! Invariant kept at every instant: every value an injector may send is accepted by
//! every acceptor. Order of changes: acceptors widen before injectors switch; injectors
//! return before acceptors narrow.

use std::time::{Duration, SystemTime};

#[cfg(test)]
mod evidence_tests;
#[cfg(test)]
pub(crate) mod fake;
mod gate;
#[cfg(test)]
mod schedule_tests;
mod steps;
#[cfg(test)]
mod tests;

use crate::config::{self, Timing};
use crate::error::SyncError;
use crate::evidence::Witness;
use crate::probe::Probe;
use crate::progress::{Phase, Progress, Quiet};
use crate::store::{
    CURRENT, DocumentProblem, PENDING, PREVIOUS, SecretState, SecretStore, Stored, Version,
};
use crate::targets::{Acceptor, Injector};
use crate::value::{Secret, TargetValue, same_set};

/// Where "now" comes from: the wall clock in production (the window is counted from a
/// wall-clock tag); tests give one that moves with tokio's paused clock.
pub type Clock = std::sync::Arc<dyn Fn() -> SystemTime + Send + Sync>;

pub fn system_clock() -> Clock {
    std::sync::Arc::new(SystemTime::now)
}

/// The stores and targets a rotation acts on. Built with [`Rotation::new`] and the
/// `with_*` methods; its parts are read through accessors.
pub struct Rotation {
    /// The secret as configured (a name or an ARN).
    secret_id: String,
    store: Box<dyn SecretStore>,
    acceptors: Vec<Box<dyn Acceptor>>,
    injectors: Vec<Box<dyn Injector>>,
    probes: Vec<Box<dyn Probe>>,
    timing: Timing,
    progress: Box<dyn Progress>,
    clock: Clock,
    /// The evidence gate on pruning, when `[evidence]` is configured: a witness per source.
    evidence: Option<(Vec<Box<dyn Witness>>, config::Evidence)>,
}

impl std::fmt::Debug for Rotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotation")
            .field("store", &self.store.name())
            .field(
                "acceptors",
                &self.acceptors.iter().map(|a| a.name()).collect::<Vec<_>>(),
            )
            .field(
                "injectors",
                &self.injectors.iter().map(|i| i.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

// === impl Rotation: construction and accessors ===

impl Rotation {
    /// A rotation of `secret_id` in `store`, with no targets, quiet, on the wall clock.
    pub fn new(secret_id: impl Into<String>, store: Box<dyn SecretStore>, timing: Timing) -> Self {
        Self {
            secret_id: secret_id.into(),
            store,
            acceptors: Vec::new(),
            injectors: Vec::new(),
            probes: Vec::new(),
            timing,
            progress: Box::new(Quiet),
            clock: system_clock(),
            evidence: None,
        }
    }

    /// Prune narrows only when every witness (one per source in `settings`) shows
    /// AWSPREVIOUS unused and AWSCURRENT in use up to now.
    pub fn with_evidence(
        mut self,
        witnesses: Vec<Box<dyn Witness>>,
        settings: config::Evidence,
    ) -> Self {
        self.evidence = Some((witnesses, settings));
        self
    }

    pub fn evidence_settings(&self) -> Option<&config::Evidence> {
        self.evidence.as_ref().map(|(_, s)| s)
    }

    pub fn with_acceptor(mut self, acceptor: Box<dyn Acceptor>) -> Self {
        self.acceptors.push(acceptor);
        self
    }

    pub fn with_injector(mut self, injector: Box<dyn Injector>) -> Self {
        self.injectors.push(injector);
        self
    }

    pub fn with_probe(mut self, probe: Box<dyn Probe>) -> Self {
        self.probes.push(probe);
        self
    }

    pub fn with_progress(mut self, progress: Box<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    pub fn store(&self) -> &dyn SecretStore {
        self.store.as_ref()
    }

    pub fn acceptors(&self) -> &[Box<dyn Acceptor>] {
        &self.acceptors
    }

    pub fn injectors(&self) -> &[Box<dyn Injector>] {
        &self.injectors
    }

    pub fn probes(&self) -> &[Box<dyn Probe>] {
        &self.probes
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    pub fn progress(&self) -> &dyn Progress {
        self.progress.as_ref()
    }
}

/// A version whose value the proxies would skip: named by stage and id, never by value.
#[derive(Debug, Clone)]
pub struct Unusable {
    pub stage: &'static str,
    pub version: String,
    pub problem: DocumentProblem,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "version {} ({}) holds a value the proxies skip: {}",
            self.version, self.stage, self.problem
        )
    }
}

/// The staged versions and their values.
#[derive(Debug, Clone)]
pub struct Staged {
    pub state: SecretState,
    pub current: Option<(Version, Secret)>,
    /// `None` also when AWSPENDING sits on the AWSCURRENT version: AWS leaves it so after
    /// a finished rotation.
    pub pending: Option<(Version, Secret)>,
    pub previous: Option<(Version, Secret)>,
    /// Staged versions whose value no proxy accepts: never written to a target.
    pub unusable: Vec<Unusable>,
}

/// A stage, as targets are described (never by value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Holds {
    Current,
    Pending,
    Previous,
    /// A value that is no staged version's.
    Unknown,
    /// No header at all (injectors only).
    Nothing,
}

impl Staged {
    /// AWSPREVIOUS, when it holds a value of its own: one equal to AWSCURRENT's (moto's
    /// RotateSecret leaves that; so may a hand-made version) leaves the accepted set
    /// unchanged when detached, so it protects nothing and needs no window or proof.
    pub fn protected_previous(&self) -> Option<&(Version, Secret)> {
        let current = self.current.as_ref().map(|(_, v)| v);
        self.previous
            .as_ref()
            .filter(|(_, value)| Some(value) != current)
    }

    pub fn holds(&self, value: Option<&TargetValue>) -> Holds {
        let Some(value) = value else {
            return Holds::Nothing;
        };
        let is = |v: &Option<(Version, Secret)>| v.as_ref().is_some_and(|(_, s)| value.is(s));
        if is(&self.current) {
            Holds::Current
        } else if is(&self.pending) {
            Holds::Pending
        } else if is(&self.previous) {
            Holds::Previous
        } else {
            Holds::Unknown
        }
    }

    fn current(&self) -> Result<&(Version, Secret), SyncError> {
        self.current
            .as_ref()
            .ok_or_else(|| SyncError::Refused("the secret has no AWSCURRENT version".into()))
    }

    /// Refuses while a staged version holds a value the proxies would skip: writing it to
    /// the WAF and the injectors would get every request rejected.
    fn usable(&self) -> Result<(), SyncError> {
        match self.unusable.first() {
            None => Ok(()),
            Some(u) => Err(SyncError::Refused(format!(
                "{u}. Put a valid value in that version (visible ASCII without commas, in the document {{\"header\":…,\"value\":…}}), or detach its stage (`rollback` for AWSPENDING)"
            ))),
        }
    }
}

/// What `rotate` found and will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// No rotation under way: a new one with this token.
    New(String),
    /// An AWSPENDING in progress: resume it.
    Resume(String),
    /// Finished but not pruned: only the prune remains.
    PruneOnly,
}

// === impl Rotation: reading the state ===

impl Rotation {
    /// Reads the stages and the staged values.
    pub async fn staged(&self) -> Result<Staged, SyncError> {
        let state = self.store.state().await?;
        let mut unusable = Vec::new();
        let mut read = async |stage: &'static str| -> Result<Option<(Version, Secret)>, SyncError> {
            let Some(v) = state.with_stage(stage) else {
                return Ok(None);
            };
            if stage == PENDING && v.has(CURRENT) {
                return Ok(None);
            }
            match self.store.value(&v.id).await? {
                Stored::Value(value) => Ok(Some((v.clone(), value))),
                // A version without a value yet (registered by Secrets Manager before
                // `create`) counts as not there.
                Stored::NotYet => Ok(None),
                Stored::Unusable(problem) => {
                    unusable.push(Unusable {
                        stage,
                        version: v.id.clone(),
                        problem,
                    });
                    Ok(None)
                }
            }
        };
        let current = read(CURRENT).await?;
        let pending = read(PENDING).await?;
        let previous = read(PREVIOUS).await?;
        Ok(Staged {
            state,
            current,
            pending,
            previous,
            unusable,
        })
    }

    /// Every acceptor readable and in a shape this tool manages (before changing anything).
    async fn check_acceptors(&self) -> Result<(), SyncError> {
        for a in &self.acceptors {
            a.accepted()
                .await
                .map_err(|e| SyncError::Refused(e.to_string()))?;
            // `set` widens to {current, pending} (AWSPREVIOUS is pruned before a new
            // rotation starts).
            a.can_hold(2)
                .await
                .map_err(|e| SyncError::Refused(e.to_string()))?;
        }
        Ok(())
    }

    /// Refuses `what` while a stack deploy holds the deploy lock (crate::lock).
    pub fn not_locked(&self, state: &SecretState, what: &str) -> Result<(), SyncError> {
        match &state.lock {
            Some(lock) if lock.held_at((self.clock)()) => Err(lock.refuses(what)),
            _ => Ok(()),
        }
    }

    /// The clock's now (the wall clock, or the tests' paused one).
    pub fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// Every injector readable and in a shape this tool manages (a canary it cannot
    /// update, integrations to several hosts and no `origins`), before changing anything.
    async fn check_injectors(&self) -> Result<(), SyncError> {
        for i in &self.injectors {
            i.sent().await?;
        }
        Ok(())
    }

    /// The first target whose own rule `value` breaks, with that rule (never the value).
    pub fn rule_broken_by(&self, value: &Secret) -> Option<(&str, &'static str)> {
        let acceptors = self.acceptors.iter().map(|a| (a.name(), a.value_rule()));
        let injectors = self.injectors.iter().map(|i| (i.name(), i.value_rule()));
        acceptors.chain(injectors).find_map(|(name, rule)| {
            rule.filter(|r| !(r.holds)(value.expose_str()))
                .map(|r| (name, r.says))
        })
    }

    /// Refuses a pending value that some target cannot hold exactly: it is written
    /// nowhere (a partial rotation would leave that target on the old value).
    fn fits_every_target(&self, version: &Version, value: &Secret) -> Result<(), SyncError> {
        match self.rule_broken_by(value) {
            None => Ok(()),
            Some((target, rule)) => Err(SyncError::Refused(format!(
                "version {} (AWSPENDING) holds a value that {target} cannot hold exactly ({rule}); it is written nowhere. Put a value inside every target's rule in that version (a generated one always is), or run `rollback`",
                version.id
            ))),
        }
    }

    /// In progress (docs/design.md, "Precise semantics"): AWSPENDING accepted by an acceptor or sent by an injector,
    /// or created less than settle + CloudFront timeout ago. Otherwise stale.
    pub async fn pending_in_progress(&self, staged: &Staged) -> Result<bool, SyncError> {
        let Some((version, value)) = &staged.pending else {
            return Ok(false);
        };
        let young = version.created.is_none_or(|c| {
            (self.clock)().duration_since(c).unwrap_or_default()
                < self.timing.acceptor_settle + self.timing.cloudfront_deploy_timeout
        });
        tracing::debug!(version = %version.id, created = ?version.created, young, "is AWSPENDING in progress?");
        if young {
            return Ok(true);
        }
        for a in &self.acceptors {
            if a.accepted().await?.iter().any(|v| v.is(value)) {
                return Ok(true);
            }
        }
        for i in &self.injectors {
            if i.sent().await?.iter().any(|s| s.sends(value)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Decides how `rotate` starts; refuses (changing nothing) on a stale AWSPENDING, an
    /// unusable staged value or an acceptor it cannot manage.
    pub async fn start(&self) -> Result<Start, SyncError> {
        self.check_acceptors().await?;
        self.check_injectors().await?;
        let staged = self.staged().await?;
        staged.usable()?;
        staged.current()?;
        if let Some((version, value)) = &staged.pending {
            self.fits_every_target(version, value)?;
            if self.pending_in_progress(&staged).await? {
                return Ok(Start::Resume(version.id.clone()));
            }
            return Err(SyncError::Refused(format!(
                "a stale AWSPENDING is on version {}: run `rollback` first",
                version.id
            )));
        }
        // An AWSPREVIOUS still attached belongs to the last rotation: a new one would
        // detach it at its finish, so that rotation's prune comes first.
        if staged.protected_previous().is_some() {
            return Ok(Start::PruneOnly);
        }
        Ok(Start::New(new_token()?))
    }

    /// A full rotation, resuming whatever is under way: create → set → test → finish,
    /// then (unless `skip_prune`) the window and prune.
    pub async fn rotate(&self, skip_prune: bool) -> Result<(), SyncError> {
        let token = match self.start().await? {
            Start::New(token) => token,
            Start::Resume(token) => {
                self.progress
                    .step(&format!("resuming the rotation of version {token}"));
                token
            }
            Start::PruneOnly => {
                self.progress
                    .step("the last rotation was not pruned: pruning it");
                self.record_window_start(&self.staged().await?).await?;
                return self.wait_window_and_prune(skip_prune).await;
            }
        };
        self.create(&token).await?;
        self.set(&token).await?;
        self.test(&token).await?;
        self.finish(&token).await?;
        self.wait_window_and_prune(skip_prune).await
    }

    async fn wait_window_and_prune(&self, skip_prune: bool) -> Result<(), SyncError> {
        if skip_prune {
            self.progress
                .step("prune skipped: run `prune` after the dual-accept window");
            return Ok(());
        }
        self.progress.phase(Phase::Window);
        let staged = self.staged().await?;
        let left = self.window_left(&staged);
        self.wait_with_heartbeats("the dual-accept window", left)
            .await;
        self.wait_for_evidence().await?;
        self.prune(false).await
    }

    /// When AWSCURRENT's dual-accept window started: the finish record, if it is this
    /// version's. A finish that moved the stages and died before its tag leaves the last
    /// rotation's record (naming another version): its window has not started. Records
    /// written before the version was recorded count as AWSCURRENT's.
    pub fn window_start(&self, staged: &Staged) -> Option<SystemTime> {
        let finished = staged.state.finished_at?;
        match (&staged.state.finished_version, &staged.current) {
            (Some(v), Some((current, _))) if *v != current.id => None,
            _ => Some(finished),
        }
    }

    /// Time left of the dual-accept window: zero with nothing to protect (no AWSPREVIOUS)
    /// or once it is over; the whole window while its start is not recorded.
    pub fn window_left(&self, staged: &Staged) -> Duration {
        if staged.protected_previous().is_none() {
            return Duration::ZERO;
        }
        let Some(started) = self.window_start(staged) else {
            return self.timing.dual_accept_window;
        };
        let elapsed = (self.clock)().duration_since(started).unwrap_or_default();
        self.timing.dual_accept_window.saturating_sub(elapsed)
    }

    /// Makes `a` accept exactly `wanted`; whether it had to change.
    async fn make_accept(&self, a: &dyn Acceptor, wanted: &[Secret]) -> Result<bool, SyncError> {
        if same_set(&a.accepted().await?, wanted) {
            return Ok(false);
        }
        a.accept(wanted).await?;
        self.progress
            .step(&format!("{}: accepts {} value(s)", a.name(), wanted.len()));
        Ok(true)
    }

    async fn wait(&self, what: &str, total: Duration) {
        if total.is_zero() {
            return;
        }
        self.progress.waiting(what, total);
        tokio::time::sleep(total).await;
    }
}

/// A ClientRequestToken: a random UUID (version 4), as Secrets Manager's own rotation uses.
pub fn new_token() -> Result<String, SyncError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| SyncError::Target {
        target: "the operating system's random source".into(),
        problem: e.to_string(),
    })?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}
