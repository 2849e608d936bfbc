//! A lock-free histogram that prometheus-client encodes.
//!
//! prometheus-client's own `Histogram` takes a write lock per observation
//! (`self.inner.write()` in `observe_and_bucket`, 0.24); the request path takes no lock,
//! so the duration histogram is this one: an atomic per bucket and for the sum, encoded
//! through the crate's `EncodeMetric` like any of its own metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds (seconds) of the request-duration buckets.
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

#[derive(Debug, Default)]
struct Inner {
    /// Not cumulative (the encoder sums them); the last one is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

/// Clones share the counts (a handle, as prometheus-client's metrics are).
#[derive(Debug, Clone, Default)]
pub struct Histogram(Arc<Inner>);

impl Histogram {
    /// Two relaxed atomic adds.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.0.buckets[i].fetch_add(1, Relaxed);
        self.0
            .sum_micros
            .fetch_add(elapsed.as_micros().min(u64::MAX as u128) as u64, Relaxed);
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let mut buckets = Vec::with_capacity(BUCKETS.len() + 1);
        let mut count = 0;
        for (i, upper) in BUCKETS.iter().chain([f64::MAX].iter()).enumerate() {
            let n = self.0.buckets[i].load(Relaxed);
            count += n;
            // f64::MAX is how the encoder spells +Inf.
            buckets.push((*upper, n));
        }
        let sum = self.0.sum_micros.load(Relaxed) as f64 / 1e6;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}
