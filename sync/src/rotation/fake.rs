//! An in-memory world for the rotation's unit tests: a store, acceptors and injectors
//! over one state, which checks the invariant at every write (not only after each step):
//! an injector switching to a value some acceptor rejects, or an acceptor narrowing away
//! a value an injector sends, or a stage detached while an injector sends its value, is
//! recorded as a violation.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::error::SyncError;
use crate::store::{SecretState, SecretStore, Version};
use crate::targets::{Acceptor, Injector, Sent};
use crate::value::SecretValue;

#[derive(Debug, Default)]
pub struct State {
    pub versions: Vec<(Version, Option<SecretValue>)>,
    pub finished_at: Option<SystemTime>,
    pub accepted: Vec<Vec<SecretValue>>,
    pub sent: Vec<SecretValue>,
    pub violations: Vec<String>,
    /// The next this many injector sends fail.
    pub failing_sends: usize,
    /// Injectors report their value as not yet in effect (a deployment in progress).
    pub unsettled: bool,
}

impl State {
    fn staged_values(&self) -> Vec<&SecretValue> {
        self.versions
            .iter()
            .filter(|(v, _)| !v.stages.is_empty())
            .filter_map(|(_, s)| s.as_ref())
            .collect()
    }

    pub fn stage(&self, stage: &str) -> Option<SecretValue> {
        self.versions
            .iter()
            .find(|(v, _)| v.has(stage))
            .and_then(|(_, s)| s.clone())
    }
}

#[derive(Debug, Clone, Default)]
pub struct World(pub Arc<Mutex<State>>);

impl World {
    /// One AWSCURRENT value everywhere, `acceptors` WAF rules and `injectors` locations.
    pub fn new(acceptors: usize, injectors: usize) -> (Self, SecretValue) {
        let v0 = SecretValue::generate().unwrap();
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
    pub fn register_pending(&self, token: &str) {
        let version = Version {
            id: token.into(),
            stages: vec!["AWSPENDING".into()],
            created: Some(SystemTime::now()),
        };
        self.state().versions.push((version, None));
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    pub fn acceptor(&self, i: usize) -> Box<dyn Acceptor> {
        Box::new(FakeAcceptor {
            world: self.clone(),
            index: i,
            name: format!("acceptor {i}"),
        })
    }

    pub fn injector(&self, i: usize) -> Box<dyn Injector> {
        Box::new(FakeInjector {
            world: self.clone(),
            index: i,
            name: format!("injector {i}"),
        })
    }

    /// Makes the version holding `stage` look `age` old.
    pub fn age(&self, stage: &str, age: Duration) {
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
            rotation_enabled: true,
        })
    }

    async fn value(&self, version_id: &str) -> Result<Option<SecretValue>, SyncError> {
        let s = self.state();
        s.versions
            .iter()
            .find(|(v, _)| v.id == version_id)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| SyncError::Target {
                target: "fake store".into(),
                problem: format!("no version {version_id}"),
            })
    }

    async fn put_pending(&self, token: &str, value: &SecretValue) -> Result<(), SyncError> {
        let mut s = self.state();
        if let Some((_, slot)) = s.versions.iter_mut().find(|(v, _)| v.id == token) {
            // Registered without a value (as Secrets Manager does): store it once.
            slot.get_or_insert_with(|| value.clone());
            return Ok(());
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
        let staged: Vec<SecretValue> = s.staged_values().into_iter().cloned().collect();
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

    async fn set_finished_at(&self, at: SystemTime) -> Result<(), SyncError> {
        self.state().finished_at = Some(at);
        Ok(())
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

    async fn accepted(&self) -> Result<Vec<SecretValue>, SyncError> {
        Ok(self.world.state().accepted[self.index].clone())
    }

    async fn accept(&self, values: &[SecretValue]) -> Result<(), SyncError> {
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
        s.accepted[self.index] = values.to_vec();
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

    async fn sent(&self) -> Result<Vec<Sent>, SyncError> {
        let s = self.world.state();
        Ok(vec![Sent {
            location: "here".into(),
            value: Some(s.sent[self.index].clone()),
            settled: !s.unsettled,
        }])
    }

    async fn send(&self, value: &SecretValue, _deadline: Duration) -> Result<(), SyncError> {
        let mut s = self.world.state();
        if s.failing_sends > 0 {
            s.failing_sends -= 1;
            return Err(SyncError::Aws {
                target: self.name.clone(),
                operation: "Send",
                message: "injected failure".into(),
                retryable: true,
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
