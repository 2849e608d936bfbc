//! The accepted-request counters of one accepted value: what the header check records
//! when a value matches. The handles are prometheus-client counters that
//! `metrics::accepted` registers (by version, stage and edge, and by label) and hands to
//! each accepted value when a refresh builds a set.

use prometheus_client::metrics::counter::Counter;

use crate::edge::Edge;

/// The counters of one accepted value.
#[derive(Debug, Default)]
pub struct AcceptCounts {
    by_edge: [Counter; Edge::ALL.len()],
    by_label: Counter,
}

impl AcceptCounts {
    pub fn new(by_edge: [Counter; Edge::ALL.len()], by_label: Counter) -> Self {
        Self { by_edge, by_label }
    }

    pub fn record(&self, edge: Edge) {
        self.by_edge[edge.index()].inc();
        self.by_label.inc();
    }

    pub fn get(&self, edge: Edge) -> u64 {
        self.by_edge[edge.index()].get()
    }

    pub fn total(&self) -> u64 {
        Edge::ALL.iter().map(|e| self.get(*e)).sum()
    }
}
