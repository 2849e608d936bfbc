//! What the request path's metric updates cost, one request's worth each (the request
//! counter by listener and outcome, the duration histogram, the accepted-value counter),
//! on one thread and on two threads at once (the proxy's workers update the same series):
//! - `edgeguard`: the proxy's `Metrics` (prometheus-client handles held, and its own
//!   lock-free duration histogram);
//! - `prometheus-client/handles`: the same with the crate's own `Histogram` (a write lock
//!   per observation);
//! - `prometheus-client/lookups`: the idiomatic use, a family lookup per update.
//!
//! It decided how the proxy uses the crate (docs/proxy.md, "One registry for both
//! outputs").

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use edgeguard_proxy::edge::Edge;
use edgeguard_proxy::gate::{ListenerKind, Outcome};
use edgeguard_proxy::metrics::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    listener: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AcceptLabels {
    version_id: String,
    stage: String,
    edge: &'static str,
}

const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// The prometheus-client version of the same series.
struct Crate {
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, Histogram>,
    accepted: Family<AcceptLabels, Counter>,
    /// Handles taken once (what the proxy would hold per listener and accepted value).
    request_handle: Counter,
    accepted_handle: Counter,
}

impl Crate {
    fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<RequestLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(BUCKETS)) as fn() -> Histogram,
        );
        let accepted = Family::<AcceptLabels, Counter>::default();
        registry.register("edgeguard_requests", "Requests", requests.clone());
        let request_handle = requests.get_or_create(&labels()).clone();
        let accepted_handle = accepted.get_or_create(&accept_labels()).clone();
        Self {
            requests,
            durations: durations.clone(),
            accepted,
            request_handle,
            accepted_handle,
        }
    }
}

fn labels() -> RequestLabels {
    RequestLabels {
        listener: "enforcing",
        outcome: "accepted",
    }
}

fn accept_labels() -> AcceptLabels {
    AcceptLabels {
        version_id: "c9f4e0a2-5b1d-4c3e-8f7a-2d6b9e1f0a34".into(),
        stage: "current".into(),
        edge: "cloudfront",
    }
}

const ELAPSED: Duration = Duration::from_micros(180);

fn ours(m: &Metrics, counts: &edgeguard_proxy::auth::AcceptCounts) {
    counts.record(black_box(Edge::CloudFront));
    m.request(
        ListenerKind::Enforcing,
        Outcome::Accepted,
        black_box(ELAPSED),
    );
}

/// Idiomatic: a label lookup per update (a read lock on the family's map, a hash).
fn crate_lookup(c: &Crate, request: &RequestLabels, accept: &AcceptLabels) {
    c.accepted.get_or_create(black_box(accept)).inc();
    c.requests.get_or_create(black_box(request)).inc();
    c.durations
        .get_or_create(black_box(request))
        .observe(black_box(ELAPSED).as_secs_f64());
}

/// Handles held: counters are one atomic add; the histogram still goes through its own
/// lock per observation.
fn crate_handles(c: &Crate, histogram: &Histogram) {
    c.accepted_handle.inc();
    c.request_handle.inc();
    histogram.observe(black_box(ELAPSED).as_secs_f64());
}

/// Two threads doing `work` `n` times each at once: nanoseconds per update round.
fn contended(n: u64, work: impl Fn() + Send + Sync + 'static) -> f64 {
    let work = Arc::new(work);
    let start = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let work = work.clone();
            std::thread::spawn(move || {
                for _ in 0..n {
                    work();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn bench(c: &mut Criterion) {
    let metrics = Arc::new(Metrics::default());
    let counts = metrics.accept_counts("c9f4e0a2-5b1d-4c3e-8f7a-2d6b9e1f0a34", "current");
    let krate = Arc::new(Crate::new());
    let histogram = krate.durations.get_or_create(&labels()).clone();
    let (request, accept) = (labels(), accept_labels());

    let mut group = c.benchmark_group("metrics_per_request");
    group.bench_function("edgeguard", |b| b.iter(|| ours(&metrics, &counts)));
    group.bench_function("prometheus-client/lookups", |b| {
        b.iter(|| crate_lookup(&krate, &request, &accept))
    });
    group.bench_function("prometheus-client/handles", |b| {
        b.iter(|| crate_handles(&krate, &histogram))
    });
    group.finish();

    // Two threads on the same series (criterion measures one thread).
    const N: u64 = 2_000_000;
    let (m, k) = (metrics.clone(), counts.clone());
    let ours_2 = contended(N, move || ours(&m, &k));
    let (kc, h) = (krate.clone(), histogram.clone());
    let handles_2 = contended(N, move || crate_handles(&kc, &h));
    let (kc, r, a) = (krate.clone(), request.clone(), accept.clone());
    let lookups_2 = contended(N, move || crate_lookup(&kc, &r, &a));
    println!(
        "metrics_per_request, two threads on the same series (ns per round, wall): \
         edgeguard {ours_2:.1}, prometheus-client/handles {handles_2:.1}, \
         prometheus-client/lookups {lookups_2:.1}"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
