//! Accepted-request counters per accepted value: by Secrets Manager version id, by stage
//! (or the file/env label) and by edge, and by label alone.
//!
//! The counters are prometheus-client handles into two families. They are taken off the
//! request path, when a refresh builds a new accepted set, and handed to that set's
//! entry; the request path does two relaxed adds on them. The registry hands out the same
//! counters for the same (version id, label) on every refresh, so counts carry over a
//! swap, and keeps them for the EMF exporter.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::auth::AcceptCounts;
use crate::edge::Edge;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    pub version_id: String,
    pub stage: String,
    pub edge: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LabelLabels {
    pub accepted: String,
}

/// The key of a counter set: the version id (`file`/`env` for those sources) and the label
/// (`current`, `pending`, `previous`, or `line3`, `value1`, …).
pub type AcceptKey = (Arc<str>, Arc<str>);

/// The two families and every counter set handed out so far.
#[derive(Debug, Default)]
pub struct AcceptRegistry {
    /// `edgeguard_accepted_requests_total{version_id,stage,edge}`
    pub(super) by_version: Family<VersionLabels, Counter>,
    /// `edgeguard_accepted_matches_total{accepted}`
    pub(super) by_label: Family<LabelLabels, Counter>,
    sets: Mutex<BTreeMap<AcceptKey, Arc<AcceptCounts>>>,
}

impl AcceptRegistry {
    /// The counters for a version and label; the same ones on every call.
    pub fn counts(&self, version_id: &str, label: &str) -> Arc<AcceptCounts> {
        let mut sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.entry((version_id.into(), label.into()))
            .or_insert_with(|| {
                let edge_counter = |edge: Edge| {
                    self.by_version
                        .get_or_create(&VersionLabels {
                            version_id: version_id.to_owned(),
                            stage: label.to_owned(),
                            edge: edge.as_str(),
                        })
                        .clone()
                };
                Arc::new(AcceptCounts::new(
                    Edge::ALL.map(edge_counter),
                    self.by_label
                        .get_or_create(&LabelLabels {
                            accepted: label.to_owned(),
                        })
                        .clone(),
                ))
            })
            .clone()
    }

    /// A copy of the map (the lock is held only while copying Arcs).
    pub fn snapshot(&self) -> Vec<(AcceptKey, Arc<AcceptCounts>)> {
        let sets = self.sets.lock().unwrap_or_else(|e| e.into_inner());
        sets.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}
