//! Reads a [`Source`] on an interval and swaps the accepted snapshot when it changes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{Labeled, Source};
use crate::auth::{AcceptedSet, AcceptedValue};
use crate::state::ProxyState;

/// A repeated failure is logged at warn at most this often (debug in between).
const WARN_EVERY: Duration = Duration::from_secs(60);
/// Until a first set is loaded, retries start this fast and back off to the interval.
const FIRST_RETRY: Duration = Duration::from_millis(250);

/// Runs until `shutdown`: the first read at once, then one every `interval` (±10%
/// jitter, so that a fleet started together does not poll in step).
pub async fn run<S: Source>(
    mut source: S,
    state: Arc<ProxyState>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut last_warn: Option<Instant> = None;
    let mut retry = FIRST_RETRY;
    loop {
        let ok = refresh_once(&mut source, &state, &mut last_warn).await;
        let wait = if ok || state.accepted.load().is_some() {
            jitter(interval)
        } else {
            // Nothing loaded yet: the listeners are answering 503, so retry sooner.
            retry = (retry * 2).min(interval);
            retry.min(interval)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One read: swap on a change, keep the snapshot in force on an error. True on success.
pub async fn refresh_once<S: Source>(
    source: &mut S,
    state: &ProxyState,
    last_warn: &mut Option<Instant>,
) -> bool {
    match source.load().await {
        Ok(values) => {
            let swapped = swap_if_changed(state, values);
            let count = state.accepted.load().as_ref().map_or(0, |s| s.len());
            state.metrics.refresh_succeeded(count, swapped);
            if swapped {
                tracing::info!(
                    source = source.describe(),
                    accepted_values = count,
                    "accepted set updated"
                );
            }
            if last_warn.take().is_some() {
                tracing::info!(source = source.describe(), "secret source readable again");
            }
            true
        }
        Err(error) => {
            state.metrics.refresh_failed();
            let loaded = state.accepted.load().is_some();
            let due = last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY);
            if due {
                *last_warn = Some(Instant::now());
                tracing::warn!(
                    source = source.describe(),
                    error = %error,
                    kept_last_good_set = loaded,
                    "secret refresh failed"
                );
            } else {
                tracing::debug!(source = source.describe(), error = %error, "secret refresh failed");
            }
            false
        }
    }
}

/// Builds and stores a new snapshot when `values` differ from the one in force.
fn swap_if_changed(state: &ProxyState, values: Vec<Labeled>) -> bool {
    let current = state.accepted.load();
    let unchanged = current.as_ref().is_some_and(|set| {
        set.len() == values.len()
            && set.values().iter().zip(&values).all(|(a, b)| {
                a.label() == b.label && a.version_id() == b.version_id && a.secret() == &b.secret
            })
    });
    if unchanged {
        return false;
    }
    let accepted: Vec<AcceptedValue> = values
        .into_iter()
        .map(|v| {
            let counts = state.metrics.accept_counts(&v.version_id, &v.label);
            AcceptedValue::new(v.label.into(), v.version_id.into(), v.secret, counts)
        })
        .collect();
    match AcceptedSet::new(accepted) {
        Some(set) => {
            state.accepted.store(Some(Arc::new(set)));
            true
        }
        // Sources never return an empty list; if one did, keep what is in force.
        None => false,
    }
}

fn jitter(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + fastrand::f64() * 0.2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Secret;
    use crate::secrets::SourceError;

    /// A source that returns what the test queued, one answer per read.
    struct Scripted(Vec<Result<Vec<Labeled>, SourceError>>);

    impl Source for Scripted {
        fn describe(&self) -> &str {
            "scripted"
        }
        async fn load(&mut self) -> Result<Vec<Labeled>, SourceError> {
            self.0.remove(0)
        }
    }

    fn values(vs: &[&str]) -> Vec<Labeled> {
        vs.iter()
            .enumerate()
            .map(|(i, v)| Labeled {
                label: format!("line{}", i + 1),
                version_id: "file".into(),
                secret: Secret::new(v.as_bytes()).unwrap(),
            })
            .collect()
    }

    fn gone() -> SourceError {
        SourceError::MissingVar { var: "X".into() }
    }

    #[tokio::test]
    async fn a_failed_read_keeps_the_last_good_set() {
        let state = ProxyState::default();
        let mut warned = None;
        let mut source = Scripted(vec![
            Ok(values(&["aaaa"])),
            Err(gone()),
            Ok(values(&["bbbb"])),
        ]);
        assert!(refresh_once(&mut source, &state, &mut warned).await);
        assert!(!refresh_once(&mut source, &state, &mut warned).await);
        let set = state.accepted.load_full().unwrap();
        assert!(
            set.find(b"aaaa").is_some(),
            "last good set kept after an error"
        );
        assert!(refresh_once(&mut source, &state, &mut warned).await);
        let set = state.accepted.load_full().unwrap();
        assert!(set.find(b"aaaa").is_none() && set.find(b"bbbb").is_some());
    }

    #[tokio::test]
    async fn nothing_loaded_stays_nothing_on_error() {
        let state = ProxyState::default();
        let mut source = Scripted(vec![Err(gone())]);
        assert!(!refresh_once(&mut source, &state, &mut None).await);
        assert!(state.accepted.load().is_none());
    }

    #[tokio::test]
    async fn an_unchanged_source_does_not_swap() {
        let state = ProxyState::default();
        let mut source = Scripted(vec![Ok(values(&["aaaa"])), Ok(values(&["aaaa"]))]);
        refresh_once(&mut source, &state, &mut None).await;
        let first = state.accepted.load_full().unwrap();
        refresh_once(&mut source, &state, &mut None).await;
        assert!(Arc::ptr_eq(&first, &state.accepted.load_full().unwrap()));
    }
}
