//! The proxy's state, shared by the listeners, the refresher and the admin server.

use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwapOption;

use crate::admin::{Readiness, Status};
use crate::auth::AcceptedSet;
use crate::metrics::Metrics;

/// One snapshot of accepted values (swapped whole, never edited), metrics, and the two
/// facts `/ready` needs besides the snapshot.
#[derive(Debug, Default)]
pub struct ProxyState {
    /// `None` until a source has been read successfully: requests are then refused (503).
    pub accepted: ArcSwapOption<AcceptedSet>,
    pub metrics: Metrics,
    bound: AtomicBool,
    draining: AtomicBool,
}

/// What the EMF exporter and TLS reload read (`metrics::emf::run`, `tls::reload`), and
/// nothing else of the state.
impl AsRef<Metrics> for ProxyState {
    fn as_ref(&self) -> &Metrics {
        &self.metrics
    }
}

impl ProxyState {
    pub fn set_bound(&self) {
        self.bound.store(true, Ordering::Release);
    }

    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Ready: listeners bound, an accepted set loaded, not shutting down.
    pub fn is_ready(&self) -> bool {
        self.bound.load(Ordering::Acquire) && !self.is_draining() && self.accepted.load().is_some()
    }
}

impl Status for ProxyState {
    fn readiness(&self) -> Readiness {
        if self.is_ready() {
            Readiness::Ready
        } else if self.is_draining() {
            Readiness::Draining
        } else {
            Readiness::NotReady
        }
    }
}
