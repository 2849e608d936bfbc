//! The header check allocates nothing, whatever the request carries. A counting global
//! allocator (this test binary's own) makes that a property test, not a timing.

// The one place of the product's crates with unsafe code: a global allocator must be an
// `unsafe impl`. It only forwards to the system allocator and counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use edgeguard_proxy::auth::{AcceptedSet, AcceptedValue, Secret, Verdict};
use http::{HeaderMap, HeaderName, HeaderValue};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Counting is on only on the measuring thread: the test harness allocates on its own.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn the_check_allocates_nothing() {
    let header = HeaderName::from_static("x-origin-verify");
    let values = [
        "current-value-0123456789abcdefghijklmnopqr",
        "pending-value-0123456789abcdefghijklmnopqr",
    ];
    let set = AcceptedSet::new(
        values
            .iter()
            .map(|v| {
                AcceptedValue::new(
                    (*v).into(),
                    "v1".into(),
                    Secret::new(v.as_bytes()).unwrap(),
                    Arc::default(),
                )
            })
            .collect(),
    )
    .unwrap();
    let mut requests = Vec::new();
    for fields in [
        vec![values[0]],
        vec![values[1]],
        vec!["wrong"],
        vec![],
        vec![values[0], values[0]],
    ] {
        let mut map = HeaderMap::new();
        map.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        for f in fields {
            map.append(header.clone(), HeaderValue::from_str(f).unwrap());
        }
        requests.push(map);
    }

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let mut accepted = 0;
    for _ in 0..1000 {
        for map in &requests {
            if let Verdict::Accepted(v) = set.check(map, &header) {
                v.record_match(edgeguard_proxy::edge::Edge::of(map));
                accepted += 1;
            }
        }
    }
    COUNTING.with(|c| c.set(false));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(accepted, 2000);
    assert_eq!(
        allocations, 0,
        "the check allocated {allocations} times in 5000 checks"
    );
}
