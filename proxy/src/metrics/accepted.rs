//! Accepted-request counters per accepted value: by Secrets Manager version id, by stage
//! (or the file/env label) and by edge.
//!
//! A counter set is created off the request path, when a refresh builds a new accepted
//! set, and handed to that set's entry; the request path does one relaxed add on it. The
//! registry hands out the same counters for the same (version id, label) on every
//! refresh, so counts carry over a swap.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::edge::Edge;

/// The counts of one accepted value, one per edge.
#[derive(Debug, Default)]
pub struct AcceptCounts([AtomicU64; Edge::ALL.len()]);

impl AcceptCounts {
    pub fn record(&self, edge: Edge) {
        self.0[edge.index()].fetch_add(1, Relaxed);
    }

    pub fn get(&self, edge: Edge) -> u64 {
        self.0[edge.index()].load(Relaxed)
    }

    pub fn total(&self) -> u64 {
        Edge::ALL.iter().map(|e| self.get(*e)).sum()
    }
}

/// The key of a counter set: the version id (`file`/`env` for those sources) and the label
/// (`current`, `pending`, `previous`, or `line3`, `value1`, …).
pub type AcceptKey = (Arc<str>, Arc<str>);

/// Every counter set handed out so far.
#[derive(Debug, Default)]
pub struct AcceptRegistry(Mutex<BTreeMap<AcceptKey, Arc<AcceptCounts>>>);

impl AcceptRegistry {
    /// The counters for a version and label; the same ones on every call.
    pub fn counts(&self, version_id: &str, label: &str) -> Arc<AcceptCounts> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((version_id.into(), label.into()))
            .or_default()
            .clone()
    }

    /// A copy of the map for rendering (the lock is held only while copying Arcs).
    pub fn snapshot(&self) -> Vec<(AcceptKey, Arc<AcceptCounts>)> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}
