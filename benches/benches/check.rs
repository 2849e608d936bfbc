//! The header check: 1, 2 and 3 accepted values; a valid, an invalid, a missing and a
//! duplicated header. Allocations per check are counted and reported (the target is 0).

use criterion::{Criterion, criterion_group, criterion_main};
use edgeguard_benches::{Counting, HEADER, accepted_set, allocations, request_headers};
use edgeguard_proxy::auth::Verdict;
use edgeguard_proxy::edge::Edge;
use std::hint::black_box;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn check(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    for n in 1..=3 {
        let (set, values) = accepted_set(n);
        let last = values[n - 1].as_str();
        let cases = [
            ("valid", request_headers(&[last])),
            (
                "invalid",
                request_headers(&["not-the-value-0123456789abcdefghijklmnopqr"]),
            ),
            ("missing", request_headers(&[])),
            ("duplicate", request_headers(&[last, last])),
        ];
        for (name, headers) in &cases {
            // Allocations of 10,000 checks, outside the timing.
            let before = allocations();
            for _ in 0..10_000 {
                if let Verdict::Accepted(v) = set.check(black_box(headers), &HEADER) {
                    v.record_match(Edge::of(headers));
                }
            }
            let per_check = (allocations() - before) as f64 / 10_000.0;
            println!("check/{n}-values/{name}: {per_check} allocations per check");
            group.bench_function(format!("{n}-values/{name}"), |b| {
                b.iter(|| set.check(black_box(headers), &HEADER))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, check);
criterion_main!(benches);
