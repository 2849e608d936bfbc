//! An in-memory world for the rotation's unit tests: a store, acceptors and injectors
//! over one state, which checks the invariant at every write (not only after each step):
//! an injector switching to a value some acceptor rejects, or an acceptor narrowing away
//! a value an injector sends, or a stage detached while an injector sends its value, is
//! recorded as a violation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::error::SyncError;
use crate::probe::Probe;
use crate::progress::Progress;
use crate::store::{DocumentProblem, SecretState, SecretStore, Stored, Version};
use crate::targets::{Acceptor, Injector, Sent};
use crate::value::{Secret, TargetValue};

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) versions: Vec<(Version, Option<Secret>)>,
    pub(crate) finished_at: Option<SystemTime>,
    pub(crate) finished_version: Option<String>,
    pub(crate) accepted: Vec<Vec<Secret>>,
    pub(crate) sent: Vec<Secret>,
    pub(crate) violations: Vec<String>,
    /// The next this many injector sends fail.
    pub(crate) failing_sends: usize,
    /// Injectors report their value as not yet in effect (a deployment in progress).
    pub(crate) unsettled: bool,
    /// Versions whose value the proxies would skip.
    pub(crate) unusable: Vec<String>,
    /// How long each injector's send takes (a CloudFront deployment); past the deadline
    /// it gives up, as the real one does.
    pub(crate) send_delay: Duration,
    /// The next this many direct probes with a value are refused (a WAF still
    /// propagating).
    pub(crate) lagging_probes: usize,
    /// Every change, in order: `accept`, `send`, `probe`.
    pub(crate) log: Vec<&'static str>,
    /// Tags set on the secret.
    pub(crate) tags: Vec<(String, String)>,
    /// The injectors' own value rule (as a REST stage variable has one).
    pub(crate) injector_rule: Option<crate::targets::ValueRule>,
    /// Every this-many-th direct probe is refused: one ALB node the WAF has not reached.
    pub(crate) refuse_every: usize,
    /// Direct probes with a value so far.
    pub(crate) probes: usize,
    /// Values a sender outside the configuration still sends (a forgotten door): an
    /// acceptor narrowing away, or a stage detached from, one of them is a violation.
    pub(crate) still_sent: Vec<Secret>,
}

impl State {
    fn staged_values(&self) -> Vec<&Secret> {
        self.versions
            .iter()
            .filter(|(v, _)| !v.stages.is_empty())
            .filter_map(|(_, s)| s.as_ref())
            .collect()
    }

    pub(crate) fn stage(&self, stage: &str) -> Option<Secret> {
        self.versions
            .iter()
            .find(|(v, _)| v.has(stage))
            .and_then(|(_, s)| s.clone())
    }
}

/// Wall-clock time that moves with tokio's (paused) clock: the window counts from a
/// wall-clock tag, and the tests advance tokio's.
pub(crate) fn paused_clock() -> crate::rotation::Clock {
    let base = SystemTime::now();
    let start = tokio::time::Instant::now();
    Arc::new(move || base + start.elapsed())
}

/// The production defaults: 90 s settle, a 15-minute window, a 25-minute CloudFront wait.
pub(crate) const TIMING: crate::config::Timing = crate::config::Timing {
    acceptor_settle: Duration::from_secs(90),
    dual_accept_window: Duration::from_secs(900),
    cloudfront_deploy_timeout: Duration::from_secs(1500),
};

/// A rotation of `world` with one acceptor and one injector, on the paused clock.
pub(crate) fn one_of_each(world: &World) -> crate::rotation::Rotation {
    crate::rotation::Rotation::new("fake", Box::new(world.clone()), TIMING)
        .with_clock(paused_clock())
        .with_acceptor(world.acceptor(0))
        .with_injector(world.injector(0))
}

#[derive(Debug, Clone, Default)]
pub(crate) struct World(pub Arc<Mutex<State>>);

impl World {
    /// One AWSCURRENT value everywhere, `acceptors` WAF rules and `injectors` locations.
    pub(crate) fn new(acceptors: usize, injectors: usize) -> (Self, Secret) {
        let v0 = Secret::generate().unwrap();
        let state = State {
            versions: vec![(
                Version {
                    id: "v0".into(),
                    stages: vec!["AWSCURRENT".into()],
                    created: Some(SystemTime::now()),
                },
                Some(v0.clone()),
            )],
            accepted: vec![vec![v0.clone()]; acceptors],
            sent: vec![v0.clone(); injectors],
            ..State::default()
        };
        (Self(Arc::new(Mutex::new(state))), v0)
    }

    /// Registers `token` as AWSPENDING without a value, as Secrets Manager does before
    /// calling the rotation function.
    pub(crate) fn register_pending(&self, token: &str) {
        let version = Version {
            id: token.into(),
            stages: vec!["AWSPENDING".into()],
            created: Some(SystemTime::now()),
        };
        self.state().versions.push((version, None));
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    pub(crate) fn acceptor(&self, i: usize) -> Box<dyn Acceptor> {
        Box::new(FakeAcceptor {
            world: self.clone(),
            index: i,
            name: format!("acceptor {i}"),
        })
    }

    /// A direct probe (the ALB): a value gets through when every acceptor accepts it.
    pub(crate) fn direct_probe(&self) -> Box<dyn Probe> {
        Box::new(FakeProbe {
            world: self.clone(),
        })
    }

    pub(crate) fn injector(&self, i: usize) -> Box<dyn Injector> {
        Box::new(FakeInjector {
            world: self.clone(),
            index: i,
            name: format!("injector {i}"),
        })
    }

    /// Fails the test if any write broke the invariant.
    pub(crate) fn assert_no_violations(&self) {
        let s = self.state();
        assert!(
            s.violations.is_empty(),
            "invariant broken: {:?}",
            s.violations
        );
    }

    /// Makes the version holding `stage` look `age` old.
    pub(crate) fn age(&self, stage: &str, age: Duration) {
        let mut s = self.state();
        if let Some((v, _)) = s.versions.iter_mut().find(|(v, _)| v.has(stage)) {
            v.created = Some(SystemTime::now() - age);
        }
    }
}

#[async_trait]
impl SecretStore for World {
    fn name(&self) -> &str {
        "fake store"
    }

    async fn state(&self) -> Result<SecretState, SyncError> {
        let s = self.state();
        Ok(SecretState {
            versions: s.versions.iter().map(|(v, _)| v.clone()).collect(),
            finished_at: s.finished_at,
            finished_version: s.finished_version.clone(),
            lock: s
                .tags
                .iter()
                .rev()
                .find(|(k, _)| k == crate::lock::TAG)
                .and_then(|(_, v)| crate::lock::Lock::from_tag(v)),
            rotation_enabled: true,
        })
    }

    async fn value(&self, version_id: &str) -> Result<Stored, SyncError> {
        let s = self.state();
        if s.unusable.iter().any(|id| id == version_id) {
            return Ok(Stored::Unusable(DocumentProblem::Invalid(
                edgeguard_secret::InvalidValue::ForbiddenByte { position: 1 },
            )));
        }
        s.versions
            .iter()
            .find(|(v, _)| v.id == version_id)
            .map(|(_, s)| s.clone().map_or(Stored::NotYet, Stored::Value))
            .ok_or_else(|| SyncError::Target {
                target: "fake store".into(),
                problem: format!("no version {version_id}"),
            })
    }

    async fn put_pending(&self, token: &str, value: &Secret) -> Result<(), SyncError> {
        let mut s = self.state();
        if let Some((_, slot)) = s.versions.iter_mut().find(|(v, _)| v.id == token) {
            // Registered without a value (as Secrets Manager does): store it once.
            slot.get_or_insert_with(|| value.clone());
            return Ok(());
        }
        // "If you specify a staging label that's already associated with a different
        // version of the secret, then Secrets Manager removes the label from the other
        // version" (PutSecretValue, AWS API reference).
        for (v, _) in s.versions.iter_mut() {
            v.stages.retain(|x| x != "AWSPENDING");
        }
        s.versions.push((
            Version {
                id: token.into(),
                stages: vec!["AWSPENDING".into()],
                created: Some(SystemTime::now()),
            },
            Some(value.clone()),
        ));
        Ok(())
    }

    async fn move_stage(
        &self,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), SyncError> {
        let mut s = self.state();
        let moving_current = stage == "AWSCURRENT" && to.is_some();
        let old_current = if moving_current {
            s.versions.iter().position(|(v, _)| v.has("AWSCURRENT"))
        } else {
            None
        };
        for (v, _) in s.versions.iter_mut() {
            if Some(v.id.as_str()) == from || (moving_current && v.has(stage)) {
                v.stages.retain(|x| x != stage);
            }
            if Some(v.id.as_str()) == to {
                v.stages.push(stage.into());
            }
        }
        if let Some(i) = old_current {
            // As Secrets Manager does: the old AWSCURRENT becomes AWSPREVIOUS.
            for (v, _) in s.versions.iter_mut() {
                v.stages.retain(|x| x != "AWSPREVIOUS");
            }
            s.versions[i].0.stages.push("AWSPREVIOUS".into());
        }
        let staged: Vec<Secret> = s.staged_values().into_iter().cloned().collect();
        if s.still_sent.iter().any(|v| !staged.contains(v)) {
            s.violations.push(format!(
                "{stage} moved while a sender outside the configuration still sends a value it detached"
            ));
        }
        let orphaned: Vec<usize> = (0..s.sent.len())
            .filter(|j| !staged.contains(&s.sent[*j]))
            .collect();
        for j in orphaned {
            s.violations.push(format!(
                "{stage} moved while injector {j} sends a value the proxies no longer accept"
            ));
        }
        Ok(())
    }

    async fn set_finished_at(&self, at: SystemTime, version: &str) -> Result<(), SyncError> {
        let mut s = self.state();
        s.finished_at = Some(at);
        s.finished_version = Some(version.to_owned());
        Ok(())
    }

    async fn tag(&self, key: &str, value: &str) -> Result<(), SyncError> {
        self.state().tags.push((key.into(), value.into()));
        Ok(())
    }

    async fn untag(&self, key: &str) -> Result<(), SyncError> {
        self.state().tags.retain(|(k, _)| k != key);
        Ok(())
    }
}

/// Accepted-request counts for the evidence gate: each read answers the next scripted
/// (AWSCURRENT, AWSPREVIOUS) pair; the last one repeats. AWSCURRENT's newest request is
/// in the newest minute CloudWatch can show, unless `stale`; `env`/`file` have
/// `unversioned` requests; `failing` makes every read an error.
#[derive(Debug, Clone, Default)]
pub(crate) struct FakeWitness {
    pub(crate) script: Arc<Mutex<Vec<(u64, u64)>>>,
    pub(crate) reads: Arc<Mutex<usize>>,
    pub(crate) stale: Arc<Mutex<bool>>,
    pub(crate) unversioned: Arc<Mutex<u64>>,
    pub(crate) failing: Arc<Mutex<bool>>,
    /// The windows asked for, in order.
    pub(crate) windows: Arc<Mutex<Vec<crate::evidence::Window>>>,
    pub(crate) name: &'static str,
}

impl FakeWitness {
    pub(crate) fn new(script: &[(u64, u64)]) -> Self {
        Self {
            script: Arc::new(Mutex::new(script.to_vec())),
            name: "fake cloudwatch",
            ..Self::default()
        }
    }

    pub(crate) fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }
}

#[async_trait]
impl crate::evidence::Witness for FakeWitness {
    fn source(&self) -> &str {
        self.name
    }

    async fn accepted(
        &self,
        version_ids: &[&str],
        window: &crate::evidence::Window,
    ) -> Result<Vec<crate::evidence::VersionCount>, SyncError> {
        *self.reads.lock().unwrap() += 1;
        self.windows.lock().unwrap().push(*window);
        if *self.failing.lock().unwrap() {
            return Err(SyncError::Target {
                target: self.name.into(),
                problem: "GetMetricData answered InternalError for query v0".into(),
            });
        }
        let (current, previous) = {
            let mut script = self.script.lock().unwrap();
            if script.len() > 1 {
                script.remove(0)
            } else {
                script[0]
            }
        };
        let seconds = |t: SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let newest = if *self.stale.lock().unwrap() {
            seconds(window.from)
        } else {
            seconds(window.to) - 60
        };
        let unversioned = *self.unversioned.lock().unwrap();
        Ok(version_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let total = match (i, *id) {
                    (_, "env" | "file") => unversioned,
                    (0, _) => current,
                    (1, _) => previous,
                    _ => 0,
                };
                crate::evidence::VersionCount {
                    version_id: (*id).to_owned(),
                    total,
                    by_edge: if total > 0 {
                        vec![("cloudfront".into(), total)]
                    } else {
                        vec![]
                    },
                    newest: (total > 0).then_some(newest),
                }
            })
            .collect())
    }
}

struct FakeAcceptor {
    world: World,
    index: usize,
    name: String,
}

#[async_trait]
impl Acceptor for FakeAcceptor {
    fn name(&self) -> &str {
        &self.name
    }

    async fn accepted(&self) -> Result<Vec<TargetValue>, SyncError> {
        Ok(self.world.state().accepted[self.index]
            .iter()
            .map(TargetValue::from)
            .collect())
    }

    async fn accept(&self, values: &[Secret]) -> Result<(), SyncError> {
        let mut s = self.world.state();
        let rejected: Vec<usize> = (0..s.sent.len())
            .filter(|j| !values.contains(&s.sent[*j]))
            .collect();
        for j in rejected {
            s.violations.push(format!(
                "{} narrowed away what injector {j} sends",
                self.name
            ));
        }
        if s.still_sent.iter().any(|v| !values.contains(v)) {
            s.violations.push(format!(
                "{} narrowed away what a sender outside the configuration still sends",
                self.name
            ));
        }
        s.accepted[self.index] = values.to_vec();
        s.log.push("accept");
        Ok(())
    }
}

struct FakeInjector {
    world: World,
    index: usize,
    name: String,
}

#[async_trait]
impl Injector for FakeInjector {
    fn name(&self) -> &str {
        &self.name
    }

    fn value_rule(&self) -> Option<crate::targets::ValueRule> {
        self.world.state().injector_rule
    }

    async fn sent(&self) -> Result<Vec<Sent>, SyncError> {
        let s = self.world.state();
        Ok(vec![Sent {
            location: "here".into(),
            value: Some(TargetValue::from(&s.sent[self.index])),
            settled: !s.unsettled,
        }])
    }

    async fn send(
        &self,
        value: &Secret,
        deadline: Duration,
        _progress: &dyn Progress,
    ) -> Result<(), SyncError> {
        let delay = self.world.state().send_delay;
        if delay > deadline {
            tokio::time::sleep(deadline).await;
            return Err(SyncError::Timeout(format!(
                "{}: still deploying at the deadline",
                self.name
            )));
        }
        tokio::time::sleep(delay).await;
        let mut s = self.world.state();
        s.log.push("send");
        if s.failing_sends > 0 {
            s.failing_sends -= 1;
            return Err(SyncError::Aws {
                target: self.name.clone(),
                operation: "Send",
                code: None,
                retryable: true,
                source: "injected failure".into(),
            });
        }
        if s.accepted.iter().any(|a| !a.contains(value)) {
            s.violations.push(format!(
                "{} switched to a value an acceptor rejects",
                self.name
            ));
        }
        if !s.staged_values().contains(&value) {
            s.violations.push(format!(
                "{} switched to a value the proxies reject",
                self.name
            ));
        }
        s.sent[self.index] = value.clone();
        Ok(())
    }
}

struct FakeProbe {
    world: World,
}

#[async_trait]
impl Probe for FakeProbe {
    fn url(&self) -> &str {
        "http://alb.fake/"
    }

    fn is_direct(&self) -> bool {
        true
    }

    async fn run(&self) -> Result<(), SyncError> {
        Ok(())
    }

    async fn accepts(&self, value: &Secret) -> Result<(), SyncError> {
        let mut s = self.world.state();
        s.log.push("probe");
        let fail = |problem: &str| SyncError::Probe {
            url: "http://alb.fake/".into(),
            problem: problem.into(),
        };
        if s.lagging_probes > 0 {
            s.lagging_probes -= 1;
            return Err(fail("403: the WAF has not propagated"));
        }
        s.probes += 1;
        if s.refuse_every > 0 && s.probes % s.refuse_every == 0 {
            return Err(fail("403: one node has not propagated"));
        }
        if s.accepted.iter().all(|a| a.contains(value)) {
            Ok(())
        } else {
            Err(fail("403"))
        }
    }
}
